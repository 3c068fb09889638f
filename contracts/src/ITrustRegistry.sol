// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ITrustRegistryErrors} from "./ITrustRegistryErrors.sol";

/// @title Events and types of the TrustRegistry
/// @notice Every fact a verifier needs is emitted, so the registry can be indexed from logs.
interface ITrustRegistry is ITrustRegistryErrors {
    /// @notice Life-cycle state of an authority. `None` means "no such authority".
    enum AuthorityStatus {
        None,
        Active,
        Suspended,
        Removed
    }

    /// @notice The signature algorithm of an issuer key. `None` means "no such key".
    /// @dev Ed25519 keys sign `eddsa-jcs-2022` proofs; SM2 keys (GB/T 32918, curve sm2p256v1)
    ///      sign `suixin-sm2-jcs-2025` proofs.
    enum KeyAlgorithm {
        None,
        Ed25519,
        SM2
    }

    /// @notice An accredited authority. `uscc` is its 统一社会信用代码 (GB 32100, 18 characters),
    ///         empty when none was given; it is the issuing-unit part of the national licence
    ///         identifiers (GB/T 36904) its credentials carry.
    struct Authority {
        uint32 id;
        AuthorityStatus status;
        address account;
        uint32 region;
        uint64 accreditedAt;
        string did;
        string nameZh;
        string nameEn;
        string[] credentialTypes;
        string uscc;
    }

    /// @notice An issuer key. `publicKey` is the raw 32-byte key for Ed25519 and the 33-byte
    ///         compressed point (02/03 ‖ x) for SM2. `revokedAt` is zero while the key is not
    ///         revoked.
    struct IssuerKey {
        bytes publicKey;
        uint64 validFrom;
        uint64 revokedAt;
        uint8 revocationReason;
        KeyAlgorithm algorithm;
    }

    /// @notice The governance root offered its role to `pendingRoot`.
    /// @param currentRoot The root making the offer.
    /// @param pendingRoot The account that may accept the role.
    event GovernanceTransferStarted(address indexed currentRoot, address indexed pendingRoot);

    /// @notice The governance role moved to a new account.
    /// @param previousRoot The former root (zero at deployment).
    /// @param newRoot The new root.
    event GovernanceTransferred(address indexed previousRoot, address indexed newRoot);

    /// @notice An authority was accredited.
    /// @param didHash keccak256 of the DID string.
    /// @param id The authority's small numeric id, used by the AnchorRegistry.
    /// @param account The authority's chain account.
    /// @param did The DID string.
    /// @param nameZh Display name in Chinese.
    /// @param nameEn Display name in English.
    /// @param region GB/T 2260 region code.
    /// @param credentialTypes The credential types it may issue.
    /// @param uscc Its 统一社会信用代码, or empty.
    /// @param at Block time of the accreditation.
    event AuthorityAccredited(
        bytes32 indexed didHash,
        uint32 indexed id,
        address indexed account,
        string did,
        string nameZh,
        string nameEn,
        uint32 region,
        string[] credentialTypes,
        string uscc,
        uint64 at
    );

    /// @notice An authority's region or credential types changed.
    /// @param didHash keccak256 of the DID string.
    /// @param region The new GB/T 2260 region code.
    /// @param credentialTypes The new credential types.
    /// @param at Block time of the change.
    event AuthorityScopeChanged(bytes32 indexed didHash, uint32 region, string[] credentialTypes, uint64 at);

    /// @notice An authority's chain account changed (rotation of the account key).
    /// @param didHash keccak256 of the DID string.
    /// @param previousAccount The account that no longer acts for the authority.
    /// @param newAccount The account that now acts for it.
    /// @param at Block time of the change.
    event AuthorityAccountChanged(
        bytes32 indexed didHash, address indexed previousAccount, address indexed newAccount, uint64 at
    );

    /// @notice An authority was suspended, reinstated or removed.
    /// @param didHash keccak256 of the DID string.
    /// @param status The new status.
    /// @param at Block time of the change.
    event AuthorityStatusChanged(bytes32 indexed didHash, AuthorityStatus status, uint64 at);

    /// @notice An issuer key was registered.
    /// @param didHash keccak256 of the authority's DID.
    /// @param keyIdHash keccak256 of the key id.
    /// @param keyId The key id (the fragment of the verification method).
    /// @param algorithm The key's algorithm (1 Ed25519, 2 SM2).
    /// @param publicKey The public key: 32 bytes (Ed25519) or a 33-byte compressed point (SM2).
    /// @param validFrom The time the key became valid (block time).
    event KeyAdded(
        bytes32 indexed didHash,
        bytes32 indexed keyIdHash,
        string keyId,
        KeyAlgorithm algorithm,
        bytes publicKey,
        uint64 validFrom
    );

    /// @notice An issuer key was revoked from `revokedAt` (possibly earlier than now).
    /// @param didHash keccak256 of the authority's DID.
    /// @param keyIdHash keccak256 of the key id.
    /// @param keyId The key id.
    /// @param revokedAt The time from which the key is no longer valid.
    /// @param reason Reason code (1 rotation, 2 compromise, others reserved).
    /// @param at Block time of the transaction.
    event KeyRevoked(
        bytes32 indexed didHash, bytes32 indexed keyIdHash, string keyId, uint64 revokedAt, uint8 reason, uint64 at
    );
}
