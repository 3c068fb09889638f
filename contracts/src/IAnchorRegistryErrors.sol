// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title Custom errors of the AnchorRegistry
/// @notice Every refusal of the registry is one of these; there are no revert strings.
interface IAnchorRegistryErrors {
    /// @notice The caller's account belongs to no authority.
    error NotAnAuthority(address caller);
    /// @notice The caller's authority is suspended or removed.
    error AuthorityNotActive(address caller, uint8 status);
    /// @notice An address argument was zero.
    error ZeroAddress();
    /// @notice The Merkle root is zero.
    error ZeroRoot();
    /// @notice The leaf count is zero.
    error ZeroLeafCount();
    /// @notice This root was anchored before.
    error RootAlreadyAnchored(bytes32 root, uint32 authorityId, uint64 anchoredAt);
    /// @notice The credential id hash is zero.
    error ZeroCredentialId();
    /// @notice The status code is not one of Revoked, Suspended, Reinstated, Superseded.
    error InvalidStatus(uint8 status);
    /// @notice The change does not apply to the credential's current status.
    error InvalidStatusTransition(bytes32 credentialIdHash, uint8 from, uint8 to);
    /// @notice A batch is empty or its arrays differ in length.
    error InvalidBatch(uint256 ids, uint256 statuses, uint256 reasons);
    /// @notice A status list publication is empty, its arrays differ in length, or a list id
    ///         hash or digest is zero.
    error InvalidListBatch(uint256 lists, uint256 digests);
}
