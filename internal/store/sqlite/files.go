package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

const (
	fileMode = 0o600
	dirMode  = 0o700
)

// prepareFiles makes sure the directory of path exists and that the database
// file exists with mode 0600, so that SQLite, which gives -wal and -shm the
// database's mode, creates them 0600 too. Existing files with another mode
// are tightened to 0600: they hold secrets.
//
// It works on paths and never keeps a descriptor open: closing a descriptor
// of a database another Store in this process has open would drop that
// Store's POSIX locks.
func prepareFiles(path string) error {
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrExist):
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := ensureMode(p); err != nil {
			return err
		}
	}
	return nil
}

// ensureDir creates dir, and any missing parent, with mode 0700 whatever
// the umask (a umask can only take bits away; a strict one could leave a
// parent the next level cannot be created in).
func ensureDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if err := ensureDir(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, dirMode); err != nil {
		if errors.Is(err, fs.ErrExist) { // created meanwhile by someone else
			return nil
		}
		return err
	}
	return os.Chmod(dir, dirMode)
}

// ensureMode sets the mode of the regular file p to 0600 unless it is
// already; a missing file is fine.
func ensureMode(p string) error {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", p)
	case fi.Mode().Perm() == fileMode:
		return nil
	}
	return os.Chmod(p, fileMode)
}
