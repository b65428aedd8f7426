package config

import (
	"bytes"
	stdjson "encoding/json"
)

// duplicateKeys reports every key that appears twice in one JSON object,
// anywhere in data (verbatim values such as auth keys included): JSON
// decoders silently keep the last one, which hides mistakes and lets a
// second, unnoticed value override a reviewed one.
func duplicateKeys(data []byte, errs *Errors) {
	dec := stdjson.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	_ = walkKeys(dec, "", errs)
}

func walkKeys(dec *stdjson.Decoder, path string, errs *Errors) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(stdjson.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			kp := Join(path, key)
			if seen[key] {
				errs.Add(kp, "duplicate key (each key may appear once in an object)")
			}
			seen[key] = true
			if err := walkKeys(dec, kp, errs); err != nil {
				return err
			}
		}
	case '[':
		for i := 0; dec.More(); i++ {
			if err := walkKeys(dec, Index(path, i), errs); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}
