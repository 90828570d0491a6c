// Checks the bank's credentials with code we did not write (docs/contract.md
// section 10): each VC-JWT verifies with the npm jose library against the
// service's JWKS; its claims validate with ajv against the 1EdTech JSON
// Schema of its kind; its status list, fetched from the service, verifies
// with jose and decodes with @digitalbazaar/vc-bitstring-status-list, whose
// bit at the credential's index must be what the Go test expects; and a
// credential with one claim changed fails jose's verification.
//
// Usage: node verify.mjs INPUT.json, where INPUT is
// {"jwks": URL, "issuer": URL, "schemas": {"ob": PATH, "clr": PATH},
//  "credentials": [{"jwt", "kind", "revoked"}]}.
// It prints one line per check and exits 1 when any fails.
import * as jose from 'jose';
import Ajv2019 from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';
import {decodeList} from '@digitalbazaar/vc-bitstring-status-list';
import {readFileSync} from 'node:fs';

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const jwks = jose.createRemoteJWKSet(new URL(input.jwks));
const ajv = new Ajv2019({strict: false, allErrors: true});
addFormats(ajv);
const validate = {
  ob: ajv.compile(JSON.parse(readFileSync(input.schemas.ob, 'utf8'))),
  clr: ajv.compile(JSON.parse(readFileSync(input.schemas.clr, 'utf8'))),
};
let failed = 0;
let passed = 0;
function check(ok, what) {
  if (ok) {
    passed++;
    console.log(`ok     ${what}`);
  } else {
    failed++;
    console.log(`FAILED ${what}`);
  }
}
const options = {issuer: input.issuer, algorithms: ['EdDSA'], typ: 'vc+jwt'};

for (const [i, c] of input.credentials.entries()) {
  const name = `credential ${i} (${c.kind})`;
  let payload;
  try {
    ({payload} = await jose.jwtVerify(c.jwt, jwks, options));
    check(true, `${name}: jose verifies its EdDSA signature against the JWKS`);
  } catch (e) {
    check(false, `${name}: jose: ${e.code || ''} ${e.message}`);
    continue;
  }
  const v = c.kind === 'transcript' ? validate.clr : validate.ob;
  const valid = v(payload);
  check(valid, `${name}: validates against the 1EdTech ${c.kind === 'transcript' ? 'CLR 2.0 ClrCredential' : 'OB 3.0 AchievementCredential'} schema` +
    (valid ? '' : ': ' + JSON.stringify(v.errors.slice(0, 5))));

  // One claim changed, the signature kept: jose must refuse it.
  const [h, p, s] = c.jwt.split('.');
  const changed = {...payload, name: payload.name + ' (changed)'};
  const forged = [h, Buffer.from(JSON.stringify(changed)).toString('base64url'), s].join('.');
  try {
    await jose.jwtVerify(forged, jwks, options);
    check(false, `${name}: jose accepted a changed claim`);
  } catch (e) {
    check(e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', `${name}: jose refuses a changed claim (${e.code})`);
  }

  const status = payload.credentialStatus;
  const res = await fetch(status.statusListCredential);
  check(res.ok && res.headers.get('content-type') === 'application/vc+jwt', `${name}: status list served as application/vc+jwt (${res.status})`);
  const listJWT = await res.text();
  let list;
  try {
    ({payload: list} = await jose.jwtVerify(listJWT, jwks, options));
    check(true, `${name}: jose verifies the status list's signature`);
  } catch (e) {
    check(false, `${name}: status list: ${e.code || ''} ${e.message}`);
    continue;
  }
  check(list.type.includes('BitstringStatusListCredential') && list.credentialSubject.statusPurpose === 'revocation',
    `${name}: the list is a BitstringStatusListCredential for revocation`);
  const bits = await decodeList({encodedList: list.credentialSubject.encodedList});
  check(bits.length >= 131072, `${name}: the list holds ${bits.length} bits`);
  const bit = bits.getStatus(Number(status.statusListIndex));
  check(bit === c.revoked, `${name}: @digitalbazaar/vc-bitstring-status-list reads bit ${status.statusListIndex} as ${bit}, want ${c.revoked}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
