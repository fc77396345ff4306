package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "SPLIT_"

// ApplyEnv sets fields from SPLIT_… variables. The name of a key is its YAML
// path in upper case joined by "_": http.listen is SPLIT_HTTP_LISTEN,
// sip.trunks[0].password is SPLIT_SIP_TRUNKS_0_PASSWORD. Lists of strings
// are comma-separated. Variables that name no key are returned by
// UnknownEnv, not treated as errors, so other tools may share the prefix.
// Keys of an optional section (sessions.notify.sms, sessions.notify.whatsapp,
// …) can be set only when the file has the section: the environment
// overrides values (secrets), it does not turn features on.
func ApplyEnv(c *Config, environ []string) error {
	fields := envFields(c)
	var errs []error
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		f, ok := fields[name]
		if !ok {
			continue
		}
		if f.absent != "" {
			errs = append(errs, fmt.Errorf("%s: %s is not in the configuration file (the environment only overrides values of a section that is there)", name, f.absent))
			continue
		}
		if err := setValue(f.v, val); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// UnknownEnv lists SPLIT_… variables in environ that name no configuration key.
func UnknownEnv(c *Config, environ []string) []string {
	fields := envFields(c)
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) {
			if _, ok := fields[name]; !ok {
				out = append(out, name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// EnvNames lists every variable ApplyEnv understands for c.
func EnvNames(c *Config) []string {
	var out []string
	for k := range envFields(c) {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// envField is a settable configuration value, or (absent != "") a value of
// an optional section (a nil pointer, e.g. sessions.notify.sms) that the
// configuration does not have: absent is that section's key.
type envField struct {
	v      reflect.Value
	absent string
}

func envFields(c *Config) map[string]envField {
	m := map[string]envField{}
	walk(reflect.ValueOf(c).Elem(), strings.TrimSuffix(EnvPrefix, "_"), "", "", m)
	return m
}

var durationType = reflect.TypeOf(time.Duration(0))

// walk registers v's fields under prefix (SPLIT_…); key is v's YAML path and
// absent the key of the missing optional section v is under, if any.
func walk(v reflect.Value, prefix, key, absent string, m map[string]envField) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name, fkey := prefix+"_"+strings.ToUpper(tag), strings.TrimPrefix(key+"."+tag, ".")
		fv := v.Field(i)
		switch {
		case fv.Kind() == reflect.Struct:
			walk(fv, name, fkey, absent, m)
		case fv.Kind() == reflect.Pointer && fv.Type().Elem().Kind() == reflect.Struct:
			if fv.IsNil() {
				// Known names, but nothing to set: setting them is an error.
				a := absent
				if a == "" {
					a = fkey
				}
				walk(reflect.New(fv.Type().Elem()).Elem(), name, fkey, a, m)
			} else {
				walk(fv.Elem(), name, fkey, absent, m)
			}
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			for j := 0; j < fv.Len(); j++ {
				walk(fv.Index(j), name+"_"+strconv.Itoa(j), fkey+"["+strconv.Itoa(j)+"]", absent, m)
			}
		default:
			m[name] = envField{v: fv, absent: absent}
		}
	}
}

func setValue(f reflect.Value, s string) error {
	if f.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		f.SetInt(n)
	case reflect.Float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", s)
		}
		f.SetFloat(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", s)
		}
		f.SetBool(b)
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("cannot be set from the environment")
		}
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		f.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}
