// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAnchorRegistry} from "./IAnchorRegistry.sol";

/// @notice The part of the TrustRegistry the AnchorRegistry relies on.
interface IAnchoringAuthorities {
    /// @notice The id and status of the authority acting through `account`, or (0, 0).
    function anchoringAuthority(address account) external view returns (uint32 id, uint8 status);
}

/// @title AnchorRegistry — Merkle roots of credential batches, credential statuses and the
///        digests of published status lists
/// @notice An active authority's account anchors roots and records status changes of its own
///         credentials, keyed by SHA-256 of the credential id. No personal data is ever stored.
contract AnchorRegistry is IAnchorRegistry {
    uint8 private constant ACTIVE = 1;

    /// @notice The TrustRegistry that says which accounts act for which authority.
    IAnchoringAuthorities public immutable trustRegistry;

    mapping(bytes32 => Anchor) private _anchors;
    mapping(uint32 => mapping(bytes32 => StatusRecord)) private _statuses;
    mapping(uint32 => mapping(bytes32 => StatusListRecord)) private _lists;

    /// @param registry The TrustRegistry's address.
    constructor(address registry) {
        if (registry == address(0)) revert ZeroAddress();
        trustRegistry = IAnchoringAuthorities(registry);
    }

    /// @notice Anchor the Merkle root of a batch of `leafCount` credentials.
    function anchor(bytes32 root, uint32 leafCount) external {
        if (root == bytes32(0)) revert ZeroRoot();
        if (leafCount == 0) revert ZeroLeafCount();
        uint32 authorityId = _activeAuthority();
        Anchor storage existing = _anchors[root];
        if (existing.anchoredAt != 0) {
            revert RootAlreadyAnchored(root, existing.authorityId, existing.anchoredAt);
        }
        _anchors[root] = Anchor(authorityId, leafCount, uint64(block.timestamp), uint64(block.number));
        emit RootAnchored(authorityId, root, leafCount, uint64(block.timestamp));
    }

    /// @notice Change the status of one of the caller's authority's credentials.
    function setStatus(bytes32 credentialIdHash, uint8 status, uint16 reason) external {
        uint32 authorityId = _activeAuthority();
        _setStatus(authorityId, credentialIdHash, status, reason);
    }

    /// @notice Change the statuses of many credentials at once; all or nothing.
    function setStatusBatch(bytes32[] calldata credentialIdHashes, uint8[] calldata statuses, uint16[] calldata reasons)
        external
    {
        uint256 n = credentialIdHashes.length;
        if (n == 0 || statuses.length != n || reasons.length != n) {
            revert InvalidBatch(n, statuses.length, reasons.length);
        }
        uint32 authorityId = _activeAuthority();
        for (uint256 i; i < n; ++i) {
            _setStatus(authorityId, credentialIdHashes[i], statuses[i], reasons[i]);
        }
    }

    /// @notice Publish the digests of new versions of the caller's authority's status lists.
    function publishStatusLists(bytes32[] calldata listIdHashes, bytes32[] calldata digests) external {
        if (listIdHashes.length == 0) revert InvalidListBatch(0, digests.length);
        _publishLists(_activeAuthority(), listIdHashes, digests);
    }

    /// @notice Status changes and the status lists they change, in one transaction: a verifier
    ///         never sees the chain's status and the committed lists disagree. Either part may
    ///         be empty, not both; all or nothing.
    function setStatusBatchWithLists(
        bytes32[] calldata credentialIdHashes,
        uint8[] calldata statuses,
        uint16[] calldata reasons,
        bytes32[] calldata listIdHashes,
        bytes32[] calldata digests
    ) external {
        uint256 n = credentialIdHashes.length;
        if (statuses.length != n || reasons.length != n || (n == 0 && listIdHashes.length == 0)) {
            revert InvalidBatch(n, statuses.length, reasons.length);
        }
        uint32 authorityId = _activeAuthority();
        for (uint256 i; i < n; ++i) {
            _setStatus(authorityId, credentialIdHashes[i], statuses[i], reasons[i]);
        }
        _publishLists(authorityId, listIdHashes, digests);
    }

    /// @notice The digest last published for a status list of an authority; zero if none.
    function statusListOf(uint32 authorityId, bytes32 listIdHash) external view returns (StatusListRecord memory) {
        return _lists[authorityId][listIdHash];
    }

    /// @notice The anchor of `root`; all fields zero if it was never anchored.
    function anchorOf(bytes32 root) external view returns (Anchor memory) {
        return _anchors[root];
    }

    /// @notice The current status of a credential of an authority; `None` if never changed.
    function statusOf(uint32 authorityId, bytes32 credentialIdHash) external view returns (StatusRecord memory) {
        return _statuses[authorityId][credentialIdHash];
    }

    function _activeAuthority() private view returns (uint32 authorityId) {
        uint8 status;
        (authorityId, status) = trustRegistry.anchoringAuthority(msg.sender);
        if (authorityId == 0) revert NotAnAuthority(msg.sender);
        if (status != ACTIVE) revert AuthorityNotActive(msg.sender, status);
    }

    function _publishLists(uint32 authorityId, bytes32[] calldata listIdHashes, bytes32[] calldata digests) private {
        uint256 n = listIdHashes.length;
        if (digests.length != n) revert InvalidListBatch(n, digests.length);
        for (uint256 i; i < n; ++i) {
            if (listIdHashes[i] == bytes32(0) || digests[i] == bytes32(0)) revert InvalidListBatch(n, digests.length);
            _lists[authorityId][listIdHashes[i]] =
                StatusListRecord(digests[i], uint64(block.timestamp), uint64(block.number));
            emit StatusListPublished(authorityId, listIdHashes[i], digests[i], uint64(block.timestamp));
        }
    }

    function _setStatus(uint32 authorityId, bytes32 credentialIdHash, uint8 status, uint16 reason) private {
        if (credentialIdHash == bytes32(0)) revert ZeroCredentialId();
        if (status == 0 || status > uint8(CredentialStatus.Superseded)) revert InvalidStatus(status);
        StatusRecord storage record = _statuses[authorityId][credentialIdHash];
        CredentialStatus from = record.status;
        CredentialStatus to = CredentialStatus(status);
        if (!_allowed(from, to)) revert InvalidStatusTransition(credentialIdHash, uint8(from), status);
        record.status = to;
        record.reason = reason;
        record.changedAt = uint64(block.timestamp);
        emit StatusChanged(authorityId, credentialIdHash, to, reason, uint64(block.timestamp));
    }

    /// @dev Revoked is final. Suspension applies to a credential in force; reinstatement undoes it;
    ///      a credential in force or suspended may be superseded by a new version.
    function _allowed(CredentialStatus from, CredentialStatus to) private pure returns (bool) {
        if (from == CredentialStatus.Revoked) return false;
        if (to == CredentialStatus.Revoked) return true;
        if (to == CredentialStatus.Suspended) {
            return from == CredentialStatus.None || from == CredentialStatus.Reinstated;
        }
        if (to == CredentialStatus.Reinstated) return from == CredentialStatus.Suspended;
        // to == Superseded
        return from != CredentialStatus.Superseded;
    }
}
