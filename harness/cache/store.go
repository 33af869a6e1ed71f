// Package cache keeps backend responses on disk so that an interrupted or
// repeated run does not recompute them.
//
// Design:
//   - One bbolt file (responses-v1.db) in the cache folder, one bucket,
//     key = sha256 of the canonical encoding of (scope, request) — see
//     Scope.Key — value = version byte, 16-byte checksum
//     sha256(key‖body)[:16], body.
//   - bbolt's copy-on-write pages and double meta page make every
//     committed transaction durable and a kill at any moment harmless: the
//     file shows the last committed state. Callers commit after each chunk
//     of requests, so an interrupted cell keeps what it computed.
//   - The file is opened for each Get or Put and closed after it, so the
//     bbolt file lock is held for milliseconds: two runs at once take
//     turns instead of one failing (or, without the lock, corrupting the
//     file).
//   - Damage is never served: an entry whose checksum does not match is a
//     miss; a file whose content bbolt rejects, or that faults or panics
//     while read, is moved aside (responses-v1.db.corrupt-<time>) and
//     started afresh, with a warning. A file the system cannot open (a
//     read-only file system, no space) is an error that says what to do,
//     never moved aside.
package cache

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/memscope/memscope/plugins"
)

// FileName is the store's file inside the cache folder.
const FileName = "responses-v1.db"

const valueVersion = 1

var bucket = []byte("responses")

// Options tune a Store.
type Options struct {
	// LockTimeout bounds the wait for another process's transaction
	// (default 2 minutes).
	LockTimeout time.Duration
	// Warn receives messages about damaged files that were moved aside.
	Warn func(msg string)
}

// Store is the on-disk response cache. It is safe for concurrent use, by
// goroutines and by processes.
type Store struct {
	path string
	opts Options
}

// Open prepares the store in dir (created if needed) and checks that its
// file opens.
func Open(dir string, opts Options) (*Store, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 2 * time.Minute
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("response cache: %w (choose another --cache-dir, or run with --no-cache)", err)
	}
	s := &Store{path: filepath.Join(dir, FileName), opts: opts}
	if err := s.with(true, func(*bolt.Tx) error { return nil }); err != nil {
		return nil, err
	}
	return s, nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Get looks keys up. The result has one entry per key: the response, or
// nil for a miss (absent or damaged entry).
func (s *Store) Get(keys []Key) ([]*plugins.Response, error) {
	out := make([]*plugins.Response, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	err := s.with(false, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return nil
		}
		for i, k := range keys {
			if v := b.Get(k[:]); v != nil {
				if resp, ok := decodeValue(k, v); ok {
					out[i] = &resp
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Put stores responses under keys (one per key) in one transaction: all
// of them are durable when Put returns, none if it fails.
func (s *Store) Put(keys []Key, resps []plugins.Response) error {
	if len(keys) != len(resps) {
		return fmt.Errorf("response cache: %d keys for %d responses", len(keys), len(resps))
	}
	if len(keys) == 0 {
		return nil
	}
	type kv struct{ k, v []byte }
	entries := make([]kv, len(keys))
	for i := range keys {
		body, err := encodeResponse(resps[i])
		if err != nil {
			return fmt.Errorf("response cache: response %d: %w", i, err)
		}
		entries[i] = kv{keys[i][:], encodeValue(keys[i], body)}
	}
	// Sorted inserts keep bbolt's page splits cheap.
	sort.Slice(entries, func(i, j int) bool { return bytes.Compare(entries[i].k, entries[j].k) < 0 })
	return s.with(true, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := b.Put(e.k, e.v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Len counts the stored entries (for tests and diagnostics).
func (s *Store) Len() (int, error) {
	n := 0
	err := s.with(false, func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucket); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n, err
}

func encodeValue(k Key, body []byte) []byte {
	sum := checksum(k, body)
	v := make([]byte, 0, 1+len(sum)+len(body))
	v = append(v, valueVersion)
	v = append(v, sum...)
	return append(v, body...)
}

func decodeValue(k Key, v []byte) (plugins.Response, bool) {
	if len(v) < 17 || v[0] != valueVersion {
		return plugins.Response{}, false
	}
	body := v[17:]
	if !bytes.Equal(v[1:17], checksum(k, body)) {
		return plugins.Response{}, false
	}
	resp, _, err := decodeResponse(body)
	return resp, err == nil
}

func checksum(k Key, body []byte) []byte {
	h := sha256.New()
	h.Write(k[:])
	h.Write(body)
	return h.Sum(nil)[:16]
}

// errDamaged marks a store file that could not be opened or read safely.
type errDamaged struct{ cause any }

func (e errDamaged) Error() string { return fmt.Sprint(e.cause) }

// with opens the file, runs fn in a transaction and closes it. A damaged
// file is moved aside and the call retried once on a fresh file.
func (s *Store) with(write bool, fn func(*bolt.Tx) error) error {
	err := s.try(write, fn)
	var dmg errDamaged
	if !errors.As(err, &dmg) {
		return err
	}
	aside := fmt.Sprintf("%s.corrupt-%d", s.path, time.Now().UnixNano())
	if rerr := os.Rename(s.path, aside); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		return fmt.Errorf("response cache %s is damaged (%v) and could not be moved aside (%v); delete it, or run with --no-cache", s.path, dmg.cause, rerr)
	}
	if s.opts.Warn != nil {
		s.opts.Warn(fmt.Sprintf("response cache %s was damaged (%v); moved it to %s and started a new one", s.path, dmg.cause, aside))
	}
	if err := s.try(write, fn); err != nil {
		return fmt.Errorf("response cache %s: %w", s.path, err)
	}
	return nil
}

// try runs one open-transaction-close. Faults (a truncated file read
// through the memory map) and bbolt panics on damaged pages come back as
// errDamaged.
func (s *Store) try(write bool, fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var db *bolt.DB
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				closeQuietly(db)
			}
			err = errDamaged{r}
		}
	}()
	db, err = bolt.Open(s.path, 0o644, &bolt.Options{Timeout: s.opts.LockTimeout})
	if err != nil {
		db = nil
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return fmt.Errorf("response cache %s is locked by another process for over %s; retry, or run with --no-cache", s.path, s.opts.LockTimeout)
		case errors.Is(err, os.ErrPermission) || systemError(err):
			return fmt.Errorf("response cache %s: %w (choose another --cache-dir, or run with --no-cache)", s.path, err)
		}
		return errDamaged{err}
	}
	if write {
		err = db.Update(fn)
	} else {
		err = db.View(fn)
	}
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("response cache %s: %w", s.path, cerr)
	}
	return err
}

// systemError reports an error of the system rather than of the file's
// content: the file could not be opened, locked, read or mapped (a
// read-only file system, no space, too many open files, a folder in its
// place). Such a file is not damaged and must not be moved aside.
func systemError(err error) bool {
	var pe *fs.PathError
	var errno syscall.Errno
	return errors.As(err, &pe) || errors.As(err, &errno)
}

func closeQuietly(db *bolt.DB) {
	defer func() { _ = recover() }()
	_ = db.Close()
}
