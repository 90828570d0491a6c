// Package accreditation is the credit bank's domain: who may deposit what,
// what a deposit is worth, and what it converts into (docs/contract.md sections 2
// and 3). It owns
//
//   - institutions and their signing keys (JWKs, RFC 7517, with RFC 8037 for
//     Ed25519 and RFC 7638 thumbprints), their accreditations (which
//     sectors, up to which level, completed between which dates) and their
//     suspensions;
//   - credit systems and standard credits: an institution's own credits
//     turned into the bank's unit of 16 learning hours, as exact decimals
//     ([Amount], [Ratio]) that never pass through float64;
//   - outcomes, posted one by one or as a batch under idempotency keys, their
//     revocation, and their supersession by a corrected outcome, which
//     revokes the one it replaces; fields of education are ISCED-F 2013
//     codes;
//   - conversion rules, published in versions and retired; conversions,
//     which apply a rule's latest version to a learner's outcomes
//     ([Evaluate]) and use them up toward the rule's target programme; and
//     the change of each conversion item a revocation takes an outcome
//     from: reversed, or moved to the outcome that supersedes it;
//   - programmes, the award audit of a learner toward one, the limits
//     they put on conversions, and awards (docs/contract.md section 9);
//   - balances and transcripts: a learner's record as it is read;
//   - the audit listing of conversions ([Bank.AuditConversions]), and the
//     [Replayer], which rebuilds the state from a journal and re-runs every
//     conversion against the state just before it: [Bank.Audit] runs it over
//     the bank's own ledger, creditbank verify over a ledger read from
//     outside.
//
// Roles are checked by the caller (the API's route table); what depends on
// the data, such as whose outcome or which rule's target, is checked here.
//
// # Deciding inside the ledger's sequencer
//
// The package is event-sourced over the ledger. Every change is a command
// that [Bank] hands to the ledger as a ledger.Proposal; the sequencer calls
// its Decide with a ledger.View (the state after every earlier command,
// and the group's time) and gets back a ledger.Effect: the entries to
// append and the state writes they lead to. A check and the write it
// guards are therefore one atomic step, and the ledger stores both without
// knowing what they mean. New domain rules go through this hook, never
// around it.
//
// Each entry's content says exactly what happened. Beside the entries the
// bank keeps state derived from them in the ledger's state keyspace
// (institutions, outcome states, rule versions, conversions, what each rule
// granted each learner, balance changes; state.go lists the keys). One
// function applies an entry to that state, live and in replay alike, so
// applying the journal in seq order to an empty state rebuilds exactly
// what the bank keeps: [Bank.State] and [Replayer.State] return the two to
// compare.
// Time enters only as the ledger group's time, taken before deciding, so a
// replayed decision gives the same answer.
//
// Reads see only the durable ledger. Institutions are read by every
// authenticated request and every command, so decoded ones are cached; the
// cache is told of every change from inside the sequencer, before the
// entries can be read (instcache.go says why that is enough).
//
// # Files
//
//	errors.go       Error and its Codes, which the API maps to problem types
//	model.go        ids, roles, institutions, outcomes, rules: types and checks of form
//	jwk.go          PublicJWK, an institution's key: parsed strictly, written canonically
//	decimal.go      Amount and Ratio, credit systems, StandardCredits
//	field.go        the ISCED-F 2013 table: ValidField, FieldName, FieldMatches
//	bank.go         Bank: a method per command, and the reads (transcript, audit listing)
//	commands.go     each command's decide: its checks against the state, its entries
//	engine.go       Evaluate: a rule applied to outcomes, and why one does not count
//	adjust.go       a revoked outcome's conversion items: reversed or moved, applied, read back
//	preview.go      the plan of a conversion, shared by Convert and Preview (which writes nothing)
//	eligibility.go  the rules of contract version 2 a conversion records; suspensions
//	equivalence.go  groups of equivalent units: published, applied, and how they count
//	programme.go    programmes: published in versions, listed, and the target a rule names
//	awardaudit.go   the award audit: what counts toward a programme, under its caps
//	programmelimit.go  a conversion's grants cut to a programme's limits (programme_limit)
//	award.go        awards, their flags when an outcome they rested on is revoked, and their replay
//	credential.go   credentials issued (credential.issued), their status lists and what revokes them
//	duplicate.go    one outcome in force per institution, learner, unit and date
//	tx.go           a command's transaction over a ledger.View, and its ledger.Proposal
//	state.go        entry types and contents, the state's keys, apply (its one writer)
//	balance.go      balance changes, appended per learner and summed when read
//	instcache.go    the institution cache, and why it stays correct
//	outcomejson.go  the canonical form of a posted outcome, written by hand
//	hours.go        hours that must agree with an outcome's credits
//	dates.go        the last completed_on a post may carry: today at UTC+14
//	transcript.go   transcript filters and pages, and what each reader sees of an outcome
//	lists.go        the lists of institutions and of rules, read from the state
//	cursor.go       the cursors of listings that filter or run over the state
//	history.go      an institution's history, and the withdrawal of an accreditation
//	policy.go       the accreditation policy by kind of institution (policy/kinds.json)
//	statistics.go   counts by institution, sector, level and month, appended and summed
//	audit.go        Replayer, Bank.Audit, Bank.Replay and Bank.State
//
// The tests run on a real bank over Pebble in a temporary folder
// (harness_test.go): rules_test.go checks each rule of the contract,
// simulation_test.go and property_test.go drive random commands against a
// model written in plain maps, and fuzz targets cover the parsers.
package accreditation
