package main

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// maxLineBytes bounds the bytes a lineWriter buffers while it waits for
// the end of a line. A longer line goes out in parts.
const maxLineBytes = 1 << 20

// syncOutput serialises writes to one destination, so the lines of
// several processes never interleave inside a line.
type syncOutput struct {
	mu  sync.Mutex
	dst io.Writer
}

func (o *syncOutput) write(p []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()

	// A failed write to the terminal cannot be reported anywhere else.
	_, _ = o.dst.Write(p)
}

// prefixWidth is the width of the name column in the output, enough for
// the longest service name.
const prefixWidth = len("moderation-svc")

// lineWriter is an io.Writer that splits what it receives into lines and
// writes each whole line, with a prefix, to a syncOutput in one call.
// Close writes a last line that has no newline.
type lineWriter struct {
	prefix []byte
	out    *syncOutput
	mu     sync.Mutex
	buf    []byte
}

// newLineWriter returns a lineWriter that starts each line with name
// padded to width and a bar, as in "posts-svc      | ".
func newLineWriter(out *syncOutput, name string, width int) *lineWriter {
	prefix := fmt.Sprintf("%-*s | ", width, name)
	return &lineWriter{prefix: []byte(prefix), out: out}
}

// Write implements io.Writer. It always returns len(p) and a nil error,
// because a failed terminal write cannot be reported anywhere.
func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()

	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}

		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}

	if len(w.buf) >= maxLineBytes {
		w.emit(w.buf)
		w.buf = w.buf[:0]
	}

	// Move the unfinished line to the front, so the buffer does not keep
	// the memory of every line already written.
	w.buf = append(w.buf[:0:0], w.buf...)

	return len(p), nil
}

// Close writes the unfinished last line, if any.
func (w *lineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()

	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}

	return nil
}

func (w *lineWriter) emit(line []byte) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	full := make([]byte, 0, len(w.prefix)+len(line)+1)
	full = append(full, w.prefix...)
	full = append(full, line...)
	full = append(full, '\n')
	w.out.write(full)
}
