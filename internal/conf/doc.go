// Package conf is the positioned-YAML toolkit every configuration file of
// authwatch is read with: flow files (package flows), authwatch.yaml
// (internal/config) and the settings of each notifier (notify/...).
//
// It decodes strictly, with every problem at once at file:line:column and
// a did-you-mean for a misspelt key (DecodeFile, DecodeNode; FieldError,
// PrefixErrors and Problems carry them), and holds the field types that
// parse as they decode and report later with their position: Duration
// (Go's units plus d and w) and Template (text with ${env:…}, ${file:…},
// ${credential:…} and ${steps.ID.OUTPUT} references), whose secrets a
// SecretSource reads, bounded, on every use.
//
// It knows nothing of flows, steps or notifiers: it sits below all of them.
package conf
