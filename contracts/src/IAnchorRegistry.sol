// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAnchorRegistryErrors} from "./IAnchorRegistryErrors.sol";

/// @title Events and types of the AnchorRegistry
/// @notice Every fact a verifier needs is emitted, so anchors and statuses can be indexed from logs.
interface IAnchorRegistry is IAnchorRegistryErrors {
    /// @notice Status of a credential. `None` means "never changed", i.e. in force.
    enum CredentialStatus {
        None,
        Revoked,
        Suspended,
        Reinstated,
        Superseded
    }

    /// @notice A batch anchor: who anchored it, how many leaves, when.
    struct Anchor {
        uint32 authorityId;
        uint32 leafCount;
        uint64 anchoredAt;
        uint64 blockNumber;
    }

    /// @notice A credential's current status record.
    struct StatusRecord {
        CredentialStatus status;
        uint16 reason;
        uint64 changedAt;
    }

    /// @notice The digest an authority committed to for one of its published status lists
    ///         (W3C Bitstring Status List): the list a verifier fetched is the issuer's current
    ///         one exactly when its digest equals this.
    struct StatusListRecord {
        bytes32 digest;
        uint64 publishedAt;
        uint64 blockNumber;
    }

    /// @notice A Merkle root of a credential batch was anchored.
    /// @param authorityId The anchoring authority's id in the TrustRegistry.
    /// @param root The Merkle root (RFC 9162 style, SHA-256).
    /// @param leafCount The number of credentials in the batch.
    /// @param anchoredAt Block time of the anchor.
    event RootAnchored(uint32 indexed authorityId, bytes32 indexed root, uint32 leafCount, uint64 anchoredAt);

    /// @notice A credential's status changed.
    /// @param authorityId The issuing authority's id in the TrustRegistry.
    /// @param credentialIdHash SHA-256 of the credential id (no personal data on chain).
    /// @param status The new status.
    /// @param reason Reason code (see the service's reason table).
    /// @param changedAt Block time of the change.
    event StatusChanged(
        uint32 indexed authorityId, bytes32 indexed credentialIdHash, CredentialStatus status, uint16 reason, uint64 changedAt
    );

    /// @notice An authority published a new version of one of its status lists.
    /// @param authorityId The publishing authority's id in the TrustRegistry.
    /// @param listIdHash SHA-256 of the list credential's URL (its `id`).
    /// @param digest The list's digest (SHA-256 over a domain and the signed list's JCS).
    /// @param publishedAt Block time of the publication.
    event StatusListPublished(uint32 indexed authorityId, bytes32 indexed listIdHash, bytes32 digest, uint64 publishedAt);
}
