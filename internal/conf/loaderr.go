package conf

// LoadErrer is implemented by field types that parse as they decode but
// report their errors later, with the field's position (Template,
// Duration, and types of other packages such as a flow's status list):
// a decoder stops at the first error, the loader wants them all.
type LoadErrer interface{ LoadErr() error }
