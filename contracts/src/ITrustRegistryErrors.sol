// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title Custom errors of the TrustRegistry
/// @notice Every refusal of the registry is one of these; there are no revert strings.
interface ITrustRegistryErrors {
    /// @notice The caller is not the governance root.
    error NotGovernanceRoot(address caller);
    /// @notice The caller is not the pending governance root.
    error NotPendingGovernanceRoot(address caller);
    /// @notice The caller is neither the authority's chain account nor the governance root.
    error NotAuthorityAccount(address caller, bytes32 didHash);
    /// @notice An address argument was zero.
    error ZeroAddress();
    /// @notice The DID is shorter than 5 or longer than 256 bytes, or does not start with "did:".
    error InvalidDid();
    /// @notice A display name is empty or too long.
    error InvalidName();
    /// @notice The region is not a six-digit GB/T 2260 code.
    error InvalidRegion(uint32 region);
    /// @notice The list of credential types is empty, or one type is empty or too long.
    error InvalidCredentialTypes();
    /// @notice An authority with this DID already exists.
    error AuthorityExists(bytes32 didHash);
    /// @notice No authority with this DID exists.
    error UnknownAuthority(bytes32 didHash);
    /// @notice No authority with this id exists.
    error UnknownAuthorityId(uint32 id);
    /// @notice No authority acts through this account.
    error UnknownAccount(address account);
    /// @notice The account belongs, or once belonged, to an authority; accounts are never reused,
    ///         so a key rotated out (perhaps compromised) cannot come back for another authority.
    error AccountInUse(address account);
    /// @notice The authority is not active (it is suspended or removed).
    error AuthorityNotActive(bytes32 didHash, uint8 status);
    /// @notice The authority was removed; nothing about it can change any more.
    error AuthorityIsRemoved(bytes32 didHash);
    /// @notice The requested state change does not apply to the authority's current state.
    error InvalidAuthorityTransition(bytes32 didHash, uint8 from, uint8 to);
    /// @notice The key id is empty or too long.
    error InvalidKeyId();
    /// @notice The public key is all zeros (an SM2 key: its x coordinate is).
    error ZeroPublicKey();
    /// @notice The key algorithm is not one the registry knows (1 Ed25519, 2 SM2).
    error UnsupportedKeyAlgorithm(uint8 algorithm);
    /// @notice The public key is not encoded as its algorithm requires: 32 bytes for Ed25519,
    ///         a 33-byte compressed point starting 02 or 03 for SM2.
    error InvalidPublicKey(uint8 algorithm, uint256 length);
    /// @notice The 统一社会信用代码 is neither empty nor 18 characters of the GB 32100 alphabet.
    error InvalidUscc();
    /// @notice The authority already has a key with this id.
    error KeyExists(bytes32 didHash, bytes32 keyIdHash);
    /// @notice The authority has no key with this id.
    error UnknownKey(bytes32 didHash, bytes32 keyIdHash);
    /// @notice The revocation time is zero or earlier than the time the key became valid.
    error InvalidRevocationTime(uint64 requested, uint64 validFrom);
    /// @notice The key is already revoked from this time or earlier.
    error RevocationNotEarlier(uint64 requested, uint64 current);
}
