package report

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/authwatch/authwatch/internal/conf"
)

// Problems prints configuration problems as file:line:col: path: message,
// each followed by the offending source line and a caret under the column.
func Problems(w io.Writer, ps conf.Problems, sources map[string][]byte) {
	for _, p := range ps {
		fmt.Fprintln(w, Printable(p.Error()))
		if line, ok := sourceLine(p.Pos, sources); ok {
			fmt.Fprintf(w, "  %4d | %s\n", p.Pos.Line, Printable(line))
			fmt.Fprintf(w, "       | %s^\n", strings.Repeat(" ", caretOffset(line, p.Pos.Column)))
		}
	}
}

// caretOffset is how far the caret under column col of line goes once
// the line is shown through Printable.
func caretOffset(line string, col int) int {
	runes, col := []rune(line), max(col-1, 0)
	return utf8.RuneCountInString(Printable(string(runes[:min(col, len(runes))]))) + max(col-len(runes), 0)
}

// sourceLine returns line p.Line of p.File, from sources or the disk.
func sourceLine(p conf.Position, sources map[string][]byte) (string, bool) {
	if p.Line <= 0 {
		return "", false
	}
	var r io.Reader
	if b, ok := sources[p.File]; ok {
		r = strings.NewReader(string(b))
	} else {
		f, err := os.Open(p.File)
		if err != nil {
			return "", false
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		if n == p.Line {
			return strings.ReplaceAll(sc.Text(), "\t", " "), true
		}
	}
	return "", false
}
