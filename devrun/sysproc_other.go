//go:build !linux

package main

import "syscall"

// childProcAttr puts a child in a process group of its own, so the
// runner can signal it with everything it starts, and so a Ctrl-C in the
// terminal reaches only the runner, which then stops the children in
// order.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// exitWithParent does nothing outside Linux, which alone has a
// parent-death signal.
func exitWithParent() error {
	return nil
}
