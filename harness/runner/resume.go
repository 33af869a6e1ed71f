package runner

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/memscope/memscope/internal/atomicfile"
	"github.com/memscope/memscope/plugins"
)

// StateDir is the folder inside --out that keeps finished cells between
// runs, so that re-running the same command resumes.
const StateDir = ".memscope-state"

// savedCell is what a finished cell leaves in StateDir: the backend's
// answers and the task's scores. Result rows are rebuilt from them (and
// the task's requests) the same way for fresh and resumed cells, so a
// resumed run writes the same tables as an uninterrupted one.
type savedCell struct {
	Key       string
	Cell      string // human-readable, for someone looking at the files
	Responses []plugins.Response
	Scores    plugins.Scores
	Elapsed   time.Duration
}

const savedMagic = "memscope-cell-v1\n"

type resumeStore struct {
	dir      string
	created  []string // folders openResume made, innermost last
	lockPath string
	lock     *os.File // holds OUT's run lock until release
}

// lockName is the file in StateDir that one run at a time holds locked.
const lockName = "lock"

// openResume makes the state folder up front, so an unwritable --out fails
// before any work, and takes the folder's run lock: two runs writing the
// same --out would replace each other's tables, and the one that finished
// first would have printed a leaderboard the folder no longer holds.
func openResume(outDir string) (*resumeStore, error) {
	state := filepath.Join(outDir, StateDir)
	dir := filepath.Join(state, "cells")
	var created []string
	for _, d := range []string{outDir, state, dir} {
		if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
			created = append(created, d)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("results folder %s: %w (choose another --out)", outDir, err)
	}
	s := &resumeStore{dir: dir, created: created, lockPath: filepath.Join(state, lockName)}
	if err := s.takeLock(outDir); err != nil {
		s.removeIfEmpty()
		return nil, err
	}
	return s, nil
}

func (s *resumeStore) takeLock(outDir string) error {
	f, err := os.OpenFile(s.lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("results folder %s: %w (choose another --out)", outDir, err)
	}
	ok, err := lockFile(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("results folder %s: lock %s: %w", outDir, s.lockPath, err)
	}
	if !ok {
		holder, _ := io.ReadAll(io.LimitReader(f, 64))
		f.Close()
		who := "another memscope run"
		if pid := strings.TrimSpace(string(holder)); pid != "" {
			who += " (process " + pid + ")"
		}
		return fmt.Errorf("%s is writing results into %s; wait for it to finish, or give this run another --out", who, outDir)
	}
	// Say who holds it, for the message above (the lock itself is what counts).
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	s.lock = f
	return nil
}

// release lets another run use the folder.
func (s *resumeStore) release() {
	if s.lock != nil {
		s.lock.Close() // closing drops the lock
		s.lock = nil
	}
}

// removeIfEmpty takes back the folders openResume made while they are
// still empty, so a run that failed before finishing any cell (a typo in
// a task option, a model that does not load) leaves no results folder
// behind.
func (s *resumeStore) removeIfEmpty() {
	if len(s.created) > 0 && s.created[0] != s.dir {
		// The run made the state folder: its lock file goes with it.
		s.release()
		os.Remove(s.lockPath)
	}
	for i := len(s.created) - 1; i >= 0; i-- {
		if os.Remove(s.created[i]) != nil { // not empty (or gone): keep the rest
			return
		}
	}
}

func (s *resumeStore) path(key string) string { return filepath.Join(s.dir, key+".gob") }

// load returns the saved cell under key; ok is false when there is none.
// A damaged file is reported as an error so the caller can warn and
// recompute.
func (s *resumeStore) load(key string) (c *savedCell, ok bool, err error) {
	data, err := os.ReadFile(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	c, err = decodeSaved(data)
	if err != nil {
		return nil, false, fmt.Errorf("finished cell %s: %w", s.path(key), err)
	}
	if c.Key != key {
		return nil, false, fmt.Errorf("finished cell %s: holds cell %s", s.path(key), c.Key)
	}
	return c, true, nil
}

func (s *resumeStore) save(c *savedCell) error {
	data, err := encodeSaved(c)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(s.path(c.Key), data, 0o644)
}

// encodeSaved is magic ‖ gob ‖ sha256(gob).
func encodeSaved(c *savedCell) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(savedMagic)
	if err := gob.NewEncoder(&buf).Encode(c); err != nil {
		return nil, fmt.Errorf("encode finished cell: %w", err)
	}
	sum := sha256.Sum256(buf.Bytes()[len(savedMagic):])
	buf.Write(sum[:])
	return buf.Bytes(), nil
}

func decodeSaved(data []byte) (*savedCell, error) {
	if len(data) < len(savedMagic)+sha256.Size || string(data[:len(savedMagic)]) != savedMagic {
		return nil, errors.New("not a memscope cell file")
	}
	body := data[len(savedMagic) : len(data)-sha256.Size]
	sum := sha256.Sum256(body)
	if !bytes.Equal(sum[:], data[len(data)-sha256.Size:]) {
		return nil, errors.New("checksum mismatch (damaged file)")
	}
	var c savedCell
	if err := gob.NewDecoder(bytes.NewReader(body)).Decode(&c); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return &c, nil
}

// normalize sends a freshly computed cell through the same encoding a
// resumed one went through, so both give identical rows (gob turns empty
// slices into nil, for example).
func normalize(c *savedCell) (*savedCell, error) {
	data, err := encodeSaved(c)
	if err != nil {
		return nil, err
	}
	return decodeSaved(data)
}
