package systest

import "syscall"

// childProcAttr sets Pdeathsig, so Linux kills a child when the thread
// that started it exits and a test binary that dies leaves no service
// running. The Go
// runtime ends a thread only when a goroutine locked to it returns, which
// this package never does.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
