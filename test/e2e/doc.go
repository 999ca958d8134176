// Package e2e runs the apinet-hub binary as a process against a real fleet
// (test/fleet) and proves, end to end, what the hub promises under change and
// failure: the take-over from a running apinetlet, and a fault suite in which
// every case ends with the same invariant check.
//
// The package holds tests only. Its pieces are meant to be reused by further
// suites in this package: the invariant checker (invariants_test.go), the
// workload driver that creates and deletes objects steadily
// (workload_test.go) and the hub runner (suite_test.go). docs/faults.md lists
// the cases, the invariants and how to run them.
package e2e
