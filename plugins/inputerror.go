package plugins

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrInvalidInput marks a plugin's error as the user's to fix (a token id
// outside the vocabulary, weights holding NaN): errors.Is finds it in the
// harness's call error, which memscope reports as bad input (exit 2), not
// as a failure. A plugin wraps it with InvalidInput.
var ErrInvalidInput = errors.New("invalid input")

// ErrNotSupported is wrapped in the error of a call the plugin does not
// implement (an optional one, such as Inspect).
var ErrNotSupported = errors.New("not supported by this plugin")

// InvalidInput marks err as the user's to fix (ErrInvalidInput); nil stays
// nil.
func InvalidInput(err error) error {
	if err == nil {
		return nil
	}
	return &invalidInput{err}
}

type invalidInput struct{ err error }

func (e *invalidInput) Error() string   { return e.err.Error() }
func (e *invalidInput) Unwrap() []error { return []error{e.err, ErrInvalidInput} }

// toStatus is how the plugin side returns an implementation's error: an
// input error travels as InvalidArgument, anything else as it is.
func toStatus(err error) error {
	if err != nil && errors.Is(err, ErrInvalidInput) {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return err
}
