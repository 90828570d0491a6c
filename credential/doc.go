// Package credential builds, signs and verifies the credentials a learner
// can show (docs/contract.md section 10): 1EdTech Open Badges 3.0
// AchievementCredentials for one outcome or award and Comprehensive Learner
// Record 2.0 ClrCredentials for a transcript, both W3C Verifiable
// Credentials (VCDM 2.0) secured as VC-JWTs (W3C VC-JOSE-COSE: the claims
// set is the credential, header alg EdDSA as RFC 8037 defines it, typ
// vc+jwt, kid), with revocation through W3C Bitstring Status List v1.0
// lists that are themselves signed VC-JWTs.
//
// What no standard credential has, each of ours names the ledger entries it
// rests on (seq and RFC 6962 leaf hash), so that a verifier can fetch an
// inclusion proof from the public log endpoints and check it against a
// signed checkpoint.
//
// The package knows no HTTP and no storage: the caller hands it the
// outcomes and awards as read through the learner's key ([Outcome],
// [Award]) and, to verify, a [Verifier] with the issuer's keys, a source of
// status lists and a prover of inclusion.
//
// # Files
//
//	key.go      the issuer key: an Ed25519 private JWK of mode 0600
//	jwt.go      compact JWS: signing, and strict parsing of outside input
//	build.go    the credentials' JSON: Achievement, AchievementCredential, ClrCredential
//	status.go   Bitstring Status List v1.0: the bitstring, its encoding, the list credential
//	verify.go   Verifier: signature, validity dates, status and inclusion, each a Check
//	link.go     unguessable links to issued credentials, keyed by the issuer key
//	pdf.go      the printed transcript: a PDF of the outcomes with the QR code of its link
//	did.go      the issuer's did:web identifier and document
//
// The schemas the tests validate against (testdata/schemas) and the Node
// scripts that check interoperability with code we did not write
// (testdata/interop) say where they come from in their own README.
package credential
