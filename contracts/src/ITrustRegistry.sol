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

    /// @notice An accredited authority.
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
    }

    /// @notice An Ed25519 issuer key. `revokedAt` is zero while the key is not revoked.
    struct IssuerKey {
        bytes32 publicKey;
        uint64 validFrom;
        uint64 revokedAt;
        uint8 revocationReason;
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
    /// @param publicKey The Ed25519 public key.
    /// @param validFrom The time the key became valid (block time).
    event KeyAdded(bytes32 indexed didHash, bytes32 indexed keyIdHash, string keyId, bytes32 publicKey, uint64 validFrom);

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
