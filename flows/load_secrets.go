package flows

import (
	"reflect"
	"strconv"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/redact"
)

var templateType = reflect.TypeFor[conf.Template]()

// markSecretFields marks every secret-bearing template of a decoded step
// (client_secret, password, totp_secret, refresh_token, token, a bearer,
// a browser fill's value, a credential header, a sensitive extra
// parameter) so that its value is redacted even when written as a
// literal, and returns the paths of those that are literals: a secret
// belongs in a reference.
func markSecretFields(step Step) []string {
	var literals []string
	markSecrets(reflect.ValueOf(step), "", "", func(path string, t *conf.Template) {
		t.MarkSecretField()
		if t.IsLiteral() {
			literals = append(literals, path)
		}
	})
	return literals
}

// markSecrets walks v like walkFields, but with settable templates: visit
// is called for each template whose field name is secret-bearing.
func markSecrets(v reflect.Value, path, name string, visit func(string, *conf.Template)) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch {
	case v.Type() == templateType:
		if v.CanAddr() && redact.SecretFieldName(name) {
			visit(path, v.Addr().Interface().(*conf.Template))
		}
	case v.Kind() == reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			sf := v.Type().Field(i)
			if !sf.IsExported() {
				continue
			}
			fname, inline := conf.FieldName(sf)
			switch {
			case fname == "-":
			case inline:
				markSecrets(v.Field(i), path, name, visit)
			default:
				markSecrets(v.Field(i), conf.JoinPath(path, fname), fname, visit)
			}
		}
	case v.Kind() == reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			markSecrets(v.Index(i), path+"["+strconv.Itoa(i)+"]", name, visit)
		}
	case v.Kind() == reflect.Map && v.Type().Elem() == templateType:
		iter := v.MapRange()
		for iter.Next() {
			key := iter.Key().String()
			t := iter.Value().Interface().(conf.Template)
			if redact.SecretFieldName(key) {
				visit(conf.JoinPath(path, conf.PathKey(key)), &t)
				v.SetMapIndex(iter.Key(), reflect.ValueOf(t))
			}
		}
	}
}
