package telemetry

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
)

// RotatingFile is an append-only log file that rotates itself by size and can
// be reopened on demand (after an external logrotate moved it away).
//
// When a write would take the file past MaxBytes, the file is closed and
// renamed PATH.1, an existing PATH.1 becomes PATH.2 and so on; PATH.Keep is
// removed. Lines are never split: a line longer than MaxBytes gets a file of
// its own. Files are created with mode 0600. A PATH that is not a regular
// file (/dev/null, a named pipe) is never rotated.
//
// RotatingFile is safe for concurrent use, but it is meant to sit under an
// AsyncWriter, which already serialises writes.
type RotatingFile struct {
	path     string
	maxBytes int64 // 0: never rotate by size
	keep     int   // rotated files kept (PATH.1 … PATH.keep)

	mu      sync.Mutex
	f       *os.File
	size    int64
	special bool  // not a regular file: never rotated
	err     error // last rotation error, reported once
}

// OpenRotatingFile opens (or creates) path for appending. maxBytes ≤ 0 turns
// size rotation off; keep < 1 is taken as 1.
func OpenRotatingFile(path string, maxBytes int64, keep int) (*RotatingFile, error) {
	if keep < 1 {
		keep = 1
	}
	r := &RotatingFile{path: path, maxBytes: maxBytes, keep: keep}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *RotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open log %s: %w", r.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat log %s: %w", r.path, err)
	}
	r.f, r.size = f, st.Size()
	// A device or a pipe (/dev/null, a FIFO read by a collector) is
	// written to, never rotated: renaming it away would replace it with
	// a regular file.
	r.special = !st.Mode().IsRegular()
	return nil
}

// Write appends p. When p would take the file past MaxBytes, the lines that
// still fit are written, the file is rotated, and the rest goes on in the new
// file: an AsyncWriter's batch of many lines is cut at line boundaries. A
// single line longer than MaxBytes lands whole in a file of its own. If a
// rotation fails, writing goes on in the current file and the error is
// returned with the full count.
func (r *RotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, ErrClosed
	}
	var rotErr error
	total := 0
	for len(p) > 0 {
		chunk := p
		if r.maxBytes > 0 && !r.special && rotErr == nil && r.size+int64(len(p)) > r.maxBytes {
			room := r.maxBytes - r.size
			cut := -1
			if room > 0 {
				cut = bytes.LastIndexByte(p[:min(int64(len(p)), room)], '\n')
			}
			switch {
			case cut >= 0:
				chunk = p[:cut+1] // the lines that fit; rotate after them
			case r.size > 0:
				if rotErr = r.rotate(); rotErr == nil {
					continue
				}
			default: // an empty file and a first line longer than MaxBytes
				if nl := bytes.IndexByte(p, '\n'); nl >= 0 {
					chunk = p[:nl+1]
				}
			}
		}
		n, err := r.f.Write(chunk)
		r.size += int64(n)
		total += n
		if err != nil {
			return total, err
		}
		p = p[n:]
	}
	return total, rotErr
}

// rotate shifts PATH.(k) to PATH.(k+1), PATH to PATH.1, and opens a new PATH.
// On failure the current file stays open and in use.
func (r *RotatingFile) rotate() error {
	name := func(i int) string { return r.path + "." + strconv.Itoa(i) }
	if err := os.Remove(name(r.keep)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rotate log: %w", err)
	}
	for i := r.keep - 1; i >= 1; i-- {
		if err := os.Rename(name(i), name(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	if err := os.Rename(r.path, name(1)); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	return r.reopenLocked()
}

// Reopen closes the file and opens PATH again: after an external tool renamed
// it, new lines go to a fresh file at PATH (what SIGUSR1 does for nginx).
func (r *RotatingFile) Reopen() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return ErrClosed
	}
	return r.reopenLocked()
}

// reopenLocked opens PATH anew and closes the previous file; if PATH cannot
// be opened it keeps writing to the previous one rather than losing lines.
func (r *RotatingFile) reopenLocked() error {
	old := r.f
	if err := r.open(); err != nil {
		r.f = old
		return err
	}
	old.Close()
	return nil
}

// Close closes the file; later writes fail with ErrClosed. Close is idempotent.
func (r *RotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
