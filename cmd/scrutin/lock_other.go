//go:build !unix

package main

import "errors"

func lockDir(dir string) (func(), error) {
	return nil, errors.New("the witness needs a Unix system to lock its folder")
}
