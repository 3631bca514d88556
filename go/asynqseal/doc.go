// Package asynqseal seals Asynq (github.com/hibiken/asynq v0.26) tasks on the producer and opens
// them in a worker middleware before any handler runs, so a task that was tampered with in
// Redis, forged, replayed, moved to another queue, renamed or not sealed at all is archived with
// its reason and never processed.
//
// Producer: NewTask (or a Sealer) is asynq.NewTask with a seal. The seal's context is the
// task's queue and its type the task type; the payload stays the caller's bytes, and the seal
// (the headers carrier's detached envelope) rides in the task header "sealq", which Asynq keeps
// through retries and archiving. Each task carries an expiry that covers Asynq's retry window.
//
// Worker: Middleware returns an asynq.MiddlewareFunc for mux.Use. It verifies every task,
// claims it in a replay store shared by all servers of the queue, runs the handler, and records
// the completion (or releases the claim when the handler fails, so Asynq's retries still run).
// A rejected task is archived at once with "CODE: message" as its last error. HeaderFrom gives
// the handler the verified header.
//
// docs/asynq.md in the repository has the quick start, what an operator sees, and how expiry,
// maximum age and Asynq's retry window relate.
package asynqseal
