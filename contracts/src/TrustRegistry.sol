// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ITrustRegistry} from "./ITrustRegistry.sol";

/// @title TrustRegistry — who may issue what, for which region, with which keys, since when
/// @notice The governance root (e.g. 广东省政务服务和数据管理局) accredits authorities; each authority
///         registers issuer keys, Ed25519 or SM2, each recording its algorithm. Nothing is ever
///         deleted: a verifier must be able to tell whether a key was good at the time a
///         credential was anchored.
contract TrustRegistry is ITrustRegistry {
    uint256 private constant MAX_DID_BYTES = 256;
    uint256 private constant MAX_NAME_BYTES = 256;
    uint256 private constant MAX_TYPES = 16;
    uint256 private constant MAX_TYPE_BYTES = 64;
    uint256 private constant MAX_KEY_ID_BYTES = 64;
    uint32 private constant MIN_REGION = 110000;
    uint32 private constant MAX_REGION = 829999;
    uint256 private constant USCC_BYTES = 18;
    uint256 private constant ED25519_KEY_BYTES = 32;
    uint256 private constant SM2_KEY_BYTES = 33; // 02/03 ‖ x, GB/T 32918.1 §4.2.9

    /// @notice The account that accredits authorities.
    address public governanceRoot;
    /// @notice The account that may accept the governance role, if a transfer is under way.
    address public pendingGovernanceRoot;
    /// @notice Number of authorities ever accredited; ids run from 1 to this.
    uint32 public authorityCount;

    mapping(uint32 => Authority) private _authorities;
    mapping(bytes32 => uint32) private _idByDidHash;
    mapping(address => uint32) private _idByAccount;
    mapping(address => bool) private _accountUsed;
    mapping(uint32 => mapping(bytes32 => IssuerKey)) private _keys;
    mapping(uint32 => string[]) private _keyIds;

    /// @param root The first governance root.
    constructor(address root) {
        if (root == address(0)) revert ZeroAddress();
        governanceRoot = root;
        emit GovernanceTransferred(address(0), root);
    }

    modifier onlyRoot() {
        if (msg.sender != governanceRoot) revert NotGovernanceRoot(msg.sender);
        _;
    }

    // ---------------------------------------------------------------- governance

    /// @notice Offer the governance role to `newRoot`; it takes effect when `newRoot` accepts.
    function transferGovernance(address newRoot) external onlyRoot {
        if (newRoot == address(0)) revert ZeroAddress();
        pendingGovernanceRoot = newRoot;
        emit GovernanceTransferStarted(msg.sender, newRoot);
    }

    /// @notice Accept the governance role offered to the caller.
    function acceptGovernance() external {
        if (msg.sender != pendingGovernanceRoot) revert NotPendingGovernanceRoot(msg.sender);
        emit GovernanceTransferred(governanceRoot, msg.sender);
        governanceRoot = msg.sender;
        pendingGovernanceRoot = address(0);
    }

    /// @notice Accredit a new authority; `uscc` is its 统一社会信用代码 (18 characters) or empty.
    /// @return id The authority's numeric id.
    function accredit(
        string calldata did,
        string calldata nameZh,
        string calldata nameEn,
        uint32 region,
        string[] calldata credentialTypes,
        address account,
        string calldata uscc
    ) external onlyRoot returns (uint32 id) {
        _checkDid(did);
        _checkName(nameZh);
        _checkName(nameEn);
        _checkScope(region, credentialTypes);
        _checkUscc(uscc);
        if (account == address(0)) revert ZeroAddress();
        bytes32 didHash = keccak256(bytes(did));
        if (_idByDidHash[didHash] != 0) revert AuthorityExists(didHash);
        if (_accountUsed[account]) revert AccountInUse(account);

        id = ++authorityCount;
        Authority storage a = _authorities[id];
        a.id = id;
        a.status = AuthorityStatus.Active;
        a.account = account;
        a.region = region;
        a.accreditedAt = uint64(block.timestamp);
        a.did = did;
        a.nameZh = nameZh;
        a.nameEn = nameEn;
        a.credentialTypes = credentialTypes;
        a.uscc = uscc;
        _idByDidHash[didHash] = id;
        _idByAccount[account] = id;
        _accountUsed[account] = true;
        emit AuthorityAccredited(
            didHash, id, account, did, nameZh, nameEn, region, credentialTypes, uscc, uint64(block.timestamp)
        );
    }

    /// @notice Change an authority's region and credential types.
    function setScope(string calldata did, uint32 region, string[] calldata credentialTypes) external onlyRoot {
        _checkScope(region, credentialTypes);
        (bytes32 didHash, Authority storage a) = _existing(did);
        if (a.status == AuthorityStatus.Removed) revert AuthorityIsRemoved(didHash);
        a.region = region;
        a.credentialTypes = credentialTypes;
        emit AuthorityScopeChanged(didHash, region, credentialTypes, uint64(block.timestamp));
    }

    /// @notice Move an authority to a new chain account (rotation of the account key).
    /// @dev Callable by the governance root or by the authority's current account. Anchors and
    ///      statuses are keyed by the authority's id, so its history stays with it.
    function setAccount(string calldata did, address newAccount) external {
        if (newAccount == address(0)) revert ZeroAddress();
        (bytes32 didHash, Authority storage a) = _existing(did);
        if (msg.sender != a.account && msg.sender != governanceRoot) {
            revert NotAuthorityAccount(msg.sender, didHash);
        }
        if (a.status == AuthorityStatus.Removed) revert AuthorityIsRemoved(didHash);
        if (_accountUsed[newAccount]) revert AccountInUse(newAccount);
        address previous = a.account;
        delete _idByAccount[previous];
        _idByAccount[newAccount] = a.id;
        _accountUsed[newAccount] = true;
        a.account = newAccount;
        emit AuthorityAccountChanged(didHash, previous, newAccount, uint64(block.timestamp));
    }

    /// @notice Suspend an active authority: it can no longer anchor or change statuses.
    function suspend(string calldata did) external onlyRoot {
        _transition(did, AuthorityStatus.Active, AuthorityStatus.Suspended);
    }

    /// @notice Reinstate a suspended authority.
    function reinstate(string calldata did) external onlyRoot {
        _transition(did, AuthorityStatus.Suspended, AuthorityStatus.Active);
    }

    /// @notice Remove an authority for good. Its record and keys stay readable.
    function remove(string calldata did) external onlyRoot {
        (bytes32 didHash, Authority storage a) = _existing(did);
        if (a.status == AuthorityStatus.Removed) revert AuthorityIsRemoved(didHash);
        a.status = AuthorityStatus.Removed;
        emit AuthorityStatusChanged(didHash, AuthorityStatus.Removed, uint64(block.timestamp));
    }

    // ---------------------------------------------------------------- keys

    /// @notice Register an issuer key, valid from now. Only the authority's account, while active.
    /// @param algorithm 1 Ed25519 (`publicKey` the raw 32 bytes) or 2 SM2 (`publicKey` the 33-byte
    ///        compressed point, 02 or 03 then x). Whether an SM2 point lies on the curve is the
    ///        verifier's check: the registry records the bytes its owner registered.
    function addKey(string calldata did, string calldata keyId, uint8 algorithm, bytes calldata publicKey)
        external
    {
        (bytes32 didHash, Authority storage a) = _existing(did);
        if (msg.sender != a.account) revert NotAuthorityAccount(msg.sender, didHash);
        if (a.status != AuthorityStatus.Active) revert AuthorityNotActive(didHash, uint8(a.status));
        uint256 keyIdLength = bytes(keyId).length;
        if (keyIdLength == 0 || keyIdLength > MAX_KEY_ID_BYTES) revert InvalidKeyId();
        KeyAlgorithm keyAlgorithm = _checkPublicKey(algorithm, publicKey);
        bytes32 keyIdHash = keccak256(bytes(keyId));
        IssuerKey storage k = _keys[a.id][keyIdHash];
        if (k.validFrom != 0) revert KeyExists(didHash, keyIdHash);
        k.publicKey = publicKey;
        k.validFrom = uint64(block.timestamp);
        k.algorithm = keyAlgorithm;
        _keyIds[a.id].push(keyId);
        emit KeyAdded(didHash, keyIdHash, keyId, keyAlgorithm, publicKey, uint64(block.timestamp));
    }

    /// @notice Revoke a key from `revokedAt`, which may lie in the past (compromise) or the future
    ///         (scheduled rotation). A revoked key may only be revoked again from an earlier time.
    /// @dev Callable by the authority's account or the governance root, in any authority state.
    function revokeKey(string calldata did, string calldata keyId, uint64 revokedAt, uint8 reason) external {
        (bytes32 didHash, Authority storage a) = _existing(did);
        if (msg.sender != a.account && msg.sender != governanceRoot) {
            revert NotAuthorityAccount(msg.sender, didHash);
        }
        bytes32 keyIdHash = keccak256(bytes(keyId));
        IssuerKey storage k = _keys[a.id][keyIdHash];
        if (k.validFrom == 0) revert UnknownKey(didHash, keyIdHash);
        if (revokedAt == 0 || revokedAt < k.validFrom) revert InvalidRevocationTime(revokedAt, k.validFrom);
        if (k.revokedAt != 0 && revokedAt >= k.revokedAt) revert RevocationNotEarlier(revokedAt, k.revokedAt);
        k.revokedAt = revokedAt;
        k.revocationReason = reason;
        emit KeyRevoked(didHash, keyIdHash, keyId, revokedAt, reason, uint64(block.timestamp));
    }

    // ---------------------------------------------------------------- reads

    /// @notice The authority with this DID; reverts with UnknownAuthority if there is none.
    function authorityByDid(string calldata did) external view returns (Authority memory) {
        (, Authority storage a) = _existing(did);
        return a;
    }

    /// @notice The authority with this id; reverts with UnknownAuthorityId if there is none.
    function authorityById(uint32 id) external view returns (Authority memory) {
        if (id == 0 || id > authorityCount) revert UnknownAuthorityId(id);
        return _authorities[id];
    }

    /// @notice The authority acting through this account; reverts with UnknownAccount if none.
    function authorityByAccount(address account) external view returns (Authority memory) {
        uint32 id = _idByAccount[account];
        if (id == 0) revert UnknownAccount(account);
        return _authorities[id];
    }

    /// @notice The id and status of the authority acting through `account`, or (0, 0).
    /// @dev The AnchorRegistry's cheap check before every anchor and status change.
    function anchoringAuthority(address account) external view returns (uint32 id, uint8 status) {
        id = _idByAccount[account];
        if (id != 0) status = uint8(_authorities[id].status);
    }

    /// @notice The key record (DID, key id); reverts with UnknownKey if there is none.
    function keyOf(string calldata did, string calldata keyId) external view returns (IssuerKey memory) {
        (bytes32 didHash, Authority storage a) = _existing(did);
        bytes32 keyIdHash = keccak256(bytes(keyId));
        IssuerKey storage k = _keys[a.id][keyIdHash];
        if (k.validFrom == 0) revert UnknownKey(didHash, keyIdHash);
        return k;
    }

    /// @notice The ids of every key the authority ever registered, in order.
    function keyIdsOf(string calldata did) external view returns (string[] memory) {
        (, Authority storage a) = _existing(did);
        return _keyIds[a.id];
    }

    // ---------------------------------------------------------------- internals

    function _existing(string calldata did) private view returns (bytes32 didHash, Authority storage a) {
        didHash = keccak256(bytes(did));
        uint32 id = _idByDidHash[didHash];
        if (id == 0) revert UnknownAuthority(didHash);
        a = _authorities[id];
    }

    function _transition(string calldata did, AuthorityStatus from, AuthorityStatus to) private {
        (bytes32 didHash, Authority storage a) = _existing(did);
        if (a.status == AuthorityStatus.Removed) revert AuthorityIsRemoved(didHash);
        if (a.status != from) revert InvalidAuthorityTransition(didHash, uint8(a.status), uint8(to));
        a.status = to;
        emit AuthorityStatusChanged(didHash, to, uint64(block.timestamp));
    }

    function _checkDid(string calldata did) private pure {
        bytes calldata b = bytes(did);
        if (b.length < 5 || b.length > MAX_DID_BYTES) revert InvalidDid();
        if (b[0] != "d" || b[1] != "i" || b[2] != "d" || b[3] != ":") revert InvalidDid();
    }

    function _checkPublicKey(uint8 algorithm, bytes calldata publicKey) private pure returns (KeyAlgorithm) {
        uint256 length = publicKey.length;
        if (algorithm == uint8(KeyAlgorithm.Ed25519)) {
            if (length != ED25519_KEY_BYTES) revert InvalidPublicKey(algorithm, length);
        } else if (algorithm == uint8(KeyAlgorithm.SM2)) {
            if (length != SM2_KEY_BYTES || (publicKey[0] != 0x02 && publicKey[0] != 0x03)) {
                revert InvalidPublicKey(algorithm, length);
            }
        } else {
            revert UnsupportedKeyAlgorithm(algorithm);
        }
        // the key itself (Ed25519) or the point's x coordinate (SM2): the last 32 bytes
        if (bytes32(publicKey[length - 32:]) == bytes32(0)) revert ZeroPublicKey();
        return KeyAlgorithm(algorithm);
    }

    function _checkUscc(string calldata uscc) private pure {
        bytes calldata b = bytes(uscc);
        uint256 n = b.length;
        if (n == 0) return;
        if (n != USCC_BYTES) revert InvalidUscc();
        for (uint256 i; i < n; ++i) {
            bytes1 c = b[i];
            // GB 32100: digits and capitals except I, O, S, V, Z
            bool digit = c >= "0" && c <= "9";
            bool capital = c >= "A" && c <= "Z" && c != "I" && c != "O" && c != "S" && c != "V" && c != "Z";
            if (!digit && !capital) revert InvalidUscc();
        }
    }

    function _checkName(string calldata name) private pure {
        uint256 n = bytes(name).length;
        if (n == 0 || n > MAX_NAME_BYTES) revert InvalidName();
    }

    function _checkScope(uint32 region, string[] calldata credentialTypes) private pure {
        if (region < MIN_REGION || region > MAX_REGION) revert InvalidRegion(region);
        uint256 count = credentialTypes.length;
        if (count == 0 || count > MAX_TYPES) revert InvalidCredentialTypes();
        for (uint256 i; i < count; ++i) {
            uint256 n = bytes(credentialTypes[i]).length;
            if (n == 0 || n > MAX_TYPE_BYTES) revert InvalidCredentialTypes();
        }
    }
}
