package main

import "syscall"

// childProcAttr puts a child in a process group of its own, so the
// runner can signal it with everything it starts, and so a Ctrl-C in the
// terminal reaches only the runner, which then stops the children in
// order. Pdeathsig sends the child SIGTERM if the runner dies without
// stopping it. Linux sends that signal when the thread that started the
// child exits, and the Go runtime ends a thread only when a goroutine
// locked to it returns, which the runner never does.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// exitWithParent requests that Linux send the runner SIGTERM when its parent
// exits. `go run` does not pass SIGTERM on to the program it runs, so
// without this a SIGTERM to `go run` or `make dev` would leave the runner
// and its children running.
func exitWithParent() error {
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL,
		syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0)
	if errno != 0 {
		return errno
	}

	return nil
}
