package sqlite

import (
	"context"
	"strconv"
	"strings"
	"testing"
)

// failCommitsOfRollups makes every commit that inserts a minute roll-up of
// flow fail (a deferred foreign key left violated, checked at COMMIT),
// until the returned function is called.
func failCommitsOfRollups(t *testing.T, s *Store, flow string) (heal func()) {
	t.Helper()
	var id int64
	if err := s.write.QueryRow(`SELECT id FROM flow_ids WHERE flow = ?`, flow).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.write.Exec(`CREATE TABLE test_parent (id INTEGER PRIMARY KEY);
		CREATE TABLE test_child (p INTEGER REFERENCES test_parent (id) DEFERRABLE INITIALLY DEFERRED);
		CREATE TRIGGER test_fail_commit AFTER INSERT ON rollups WHEN NEW.tier = 0 AND NEW.flow_id = ` +
		strconv.FormatInt(id, 10) + ` BEGIN INSERT INTO test_child VALUES (1); END`); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if _, err := s.write.Exec(`DROP TRIGGER test_fail_commit`); err != nil {
			t.Fatal(err)
		}
	}
}

// A batch whose commit fails puts back the minute it swept to: the next
// batch in the same minute sweeps again, so a stopped flow's roll-up is
// written then rather than a minute later.
func TestFailedCommitRestoresTheSweep(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	record(t, s, pass("a", 0, 10))
	record(t, s, pass("b", 0, 10)) // b stops running: its minute 0 is swept
	heal := failCommitsOfRollups(t, s, "b")
	if _, err := s.RecordRun(ctx, pass("a", 120, 10)); err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Fatalf("the commit that writes b's roll-up: %v, want a foreign key failure", err)
	}
	heal()
	record(t, s, pass("a", 121, 10)) // minute 2 again
	var rows int
	if err := s.read.QueryRow(`SELECT count(*) FROM rollups AS r JOIN flow_ids AS f ON f.id = r.flow_id
		WHERE f.flow = 'b' AND r.tier = 0`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("%d minute roll-ups of the stopped flow written after the next batch, want 1", rows)
	}
}
