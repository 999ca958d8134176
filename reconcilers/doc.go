// Package reconcilers maps IronCore networking objects of every engaged
// member cluster one-way into the member's apinet peer and reports status
// back, wire-compatible with apinetlet (see docs/ and the behaviour contract).
package reconcilers
