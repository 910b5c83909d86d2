//go:build !linux

package systest

import "syscall"

// childProcAttr returns no settings: outside Linux a child outlives a
// test binary that dies, until the test's cleanup or a person stops it.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}
