package daemon

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchDebounce lets an editor's save (write, rename, chmod) settle into
// one reload.
const watchDebounce = 500 * time.Millisecond

// WatchFlows sends on reload when a flow file in dir changes, debounced,
// until ctx ends. Directory-level watching survives editors that save by
// renaming a temporary file.
func WatchFlows(ctx context.Context, dir string, reload chan<- struct{}) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return err
	}
	go func() {
		defer w.Close()
		var fire <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ext := filepath.Ext(ev.Name); ext == ".yaml" || ext == ".yml" {
					fire = time.After(watchDebounce)
				}
			case _, ok := <-w.Errors:
				if !ok {
					return
				}
			case <-fire:
				fire = nil
				select {
				case reload <- struct{}{}:
				default: // a reload is already pending
				}
			}
		}
	}()
	return nil
}
