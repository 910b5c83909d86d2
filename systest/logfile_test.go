package systest

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// maxPrintedLog bounds how much of the log a failed test prints: the
// last bytes, since they show the failure.
const maxPrintedLog = 512 << 10

// logFile collects, for one test, the output of every child process and
// notes from the test itself, one whole line per write, each line
// prefixed with its source.
type logFile struct {
	path string

	mu sync.Mutex
	f  *os.File
}

// openLogFile creates the log file at path. When the test ends, the file
// is closed and, if the test failed, printed with t.Log.
func openLogFile(t *testing.T, path string) *logFile {
	t.Helper()

	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("create log file: %v", err)
	}

	l := &logFile{path: path, f: f}
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()

		if err := l.f.Close(); err != nil {
			t.Errorf("close %s: %v", path, err)
		}
		if t.Failed() {
			l.print(t)
		}
	})

	return l
}

func (l *logFile) print(t *testing.T) {
	data, err := os.ReadFile(l.path)
	if err != nil {
		t.Logf("read %s: %v", l.path, err)
		return
	}

	note := ""
	if len(data) > maxPrintedLog {
		note = fmt.Sprintf(" (last %d of %d bytes)", maxPrintedLog, len(data))
		data = data[len(data)-maxPrintedLog:]
	}
	t.Logf("output of the services%s:\n%s", note, data)
}

func (l *logFile) writeLine(prefix string, line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()

	// A failed write is dropped, because the log has nowhere better to
	// go and the test still reports its own failures.
	_, _ = fmt.Fprintf(l.f, "%-18s| %s\n", prefix, bytes.TrimRight(line, "\n"))
}

// note writes a line from the test itself, with the time, so the
// services' lines can be read against the test's steps.
func (l *logFile) note(format string, args ...any) {
	msg := time.Now().UTC().Format("15:04:05.000") + " " +
		fmt.Sprintf(format, args...)
	l.writeLine("systest", []byte(msg))
}

// block writes a titled block of output, such as a command's stdout.
func (l *logFile) block(title string, data []byte) {
	l.note("%s:", title)
	for line := range bytes.Lines(data) {
		l.writeLine("systest", line)
	}
}

// writer returns an io.Writer that writes whole lines with prefix.
func (l *logFile) writer(prefix string) *lineWriter {
	return &lineWriter{log: l, prefix: prefix}
}

// lineWriter splits what it receives into lines for a logFile. A line
// without its newline waits in buf until the newline or flush.
type lineWriter struct {
	log    *logFile
	prefix string

	mu  sync.Mutex
	buf []byte
}

// Write implements io.Writer. It never fails.
func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()

	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.log.writeLine(w.prefix, w.buf[:i])
		w.buf = w.buf[i+1:]
	}

	return len(p), nil
}

// flush writes a last line that has no newline.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()

	if len(w.buf) > 0 {
		w.log.writeLine(w.prefix, w.buf)
		w.buf = nil
	}
}
