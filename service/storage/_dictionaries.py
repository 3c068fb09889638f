"""Preset dictionaries (RFC 1950 FDICT) for compressing sealed credential documents.

A credential's canonical JSON repeats the same member names, contexts, schema and status URLs,
types and proof fields in every document; zlib alone finds them only within one document of
1.5 KB. Primed with this text it finds them at once: a residence permit's compressed JSON goes
from about 890 to 430 bytes. The text holds no personal data, only the shape of the documents
and words of addresses and authorities that recur.

A compressed stream names its dictionary by Adler-32, and only that dictionary opens it. So a
dictionary is never edited once released: a better one is added under the next number and
becomes ``CURRENT``; the earlier ones stay here for what they sealed (a test pins each).
"""

from __future__ import annotations

import zlib

__all__ = ["CURRENT", "DICTIONARIES"]

_V1 = (
    # 居住年限 (derived from a permit) and 营业执照: less common, so farther back
    '"citizenIdDigest":"","residenceYears":,"asOf":"","sourceCredential":"urn:uuid:",'
    '"type":["VerifiableCredential","ResidenceYears"]'
    '"credentialSchema":{"id":"https://schemas.suixin.gov.cn/credentials/BusinessLicense/v1.json",'
    '"credentialSubject":{"businessScope":"；","domicile":"广东省广州市","entityType":'
    '"有限责任公司（自然人投资或控股）","establishmentDate":"20","id":"did:","issueDate":"20",'
    '"legalRepresentative":"","name":"广州市有限公司","operatingTerm":{"from":"20","until":null},'
    '"registeredCapital":"万元人民币","registrationAuthority":"广州市市场监督管理局","uscc":"9144010'
    '"type":["VerifiableCredential","BusinessLicense"]'
    '"cryptosuite":"suixin-sm2-jcs-2025","proofPurpose":"assertionMethod","proofValue":"z'
    # 居住证, the common case, last: nearest to what is compressed
    '{"@context":["https://www.w3.org/ns/credentials/v2","https://schemas.suixin.gov.cn/contexts/v2"],'
    '"credentialSchema":{"id":"https://schemas.suixin.gov.cn/credentials/ResidencePermit/v1.json",'
    '"type":"JsonSchema"},"credentialStatus":{"id":"urn:suixin:status:eip155:",'
    '"type":"SuixinAnchorRegistryStatus"},"credentialSubject":{"birthDate":"19","citizenId":"44",'
    '"endorsements":[{"date":"20","validUntil":"20"}],"ethnicity":"汉",'
    '"hukouAddress":"省市区县镇乡村路街号",'
    '"issueDate":"20","issuingAuthority":"广州市来穗人员服务管理局","name":"","photoDigest":"",'
    '"residenceAddress":"广东省广州市天河区越秀区海珠区荔湾区白云区黄埔区番禺区花都区南沙区从化区增城区路号",'
    '"residenceRegion":"4401","residenceSince":"20","sex":"female"},"id":"urn:uuid:",'
    '"issuer":"did:web:","licenceId":"1.2.156.3005.2.000000000000000000001.","proof":{"@context":'
    '["https://www.w3.org/ns/credentials/v2","https://schemas.suixin.gov.cn/contexts/v2"],'
    '"created":"20T:00Z","cryptosuite":"eddsa-jcs-2022","proofPurpose":"assertionMethod",'
    '"proofValue":"z","type":"DataIntegrityProof","verificationMethod":"did:web:#key-"},'
    '"type":["VerifiableCredential","ResidencePermit"],"validFrom":"20T:00Z","validUntil":"20T:00Z"}'
).encode()

#: Every released dictionary by its Adler-32 (the id a stream names it by).
DICTIONARIES: dict[int, bytes] = {zlib.adler32(d): d for d in (_V1,)}
#: The dictionary new documents are compressed with.
CURRENT = _V1
