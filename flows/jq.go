package flows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/itchyny/gojq"
)

// jqTimeout bounds a jq evaluation: a path is written by a user but runs on
// a target's body, and some jq programs never end.
const jqTimeout = time.Second

// jqQuery is a compiled jq expression.
type jqQuery struct {
	src  string
	code *gojq.Code
}

func compileJQ(src string) (*jqQuery, error) {
	q, err := gojq.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("bad jq expression %q: %v", src, err)
	}
	code, err := gojq.Compile(q)
	if err != nil {
		return nil, fmt.Errorf("bad jq expression %q: %v", src, err)
	}
	return &jqQuery{src: src, code: code}, nil
}

var errNoResult = errors.New("no result")

// first returns the expression's first result.
func (q *jqQuery) first(doc any) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), jqTimeout)
	defer cancel()
	iter := q.code.RunWithContext(ctx, doc)
	v, ok := iter.Next()
	if !ok {
		return nil, errNoResult
	}
	if err, isErr := v.(error); isErr {
		return nil, err
	}
	return v, nil
}

// normalizeJSON turns a YAML-decoded value into what encoding/json would
// produce, so that expected and actual values compare alike.
func normalizeJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}
