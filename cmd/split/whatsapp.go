package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/whatsapp"
)

const whatsappUsage = "usage: split whatsapp settings [--config FILE] [--number PHONE_NUMBER_ID] [--push]"

// whatsappCmd runs "split whatsapp settings": for each configured number
// (or --number) it reads the calling settings Meta has, prints them
// (passwords redacted), what the configuration implies and the difference;
// --push posts the wanted settings and reads them back.
func whatsappCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "settings" {
		fmt.Fprintln(stderr, whatsappUsage)
		return 2
	}
	fs := flag.NewFlagSet("split whatsapp settings", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", os.Getenv("SPLIT_CONFIG"), "YAML configuration file")
	push := fs.Bool("push", false, "post the settings the configuration implies")
	only := fs.String("number", "", "only this phone_number_id")
	timeout := fs.Duration("timeout", 30*time.Second, "for each number")
	showPW := fs.Bool("sip-password", false, "also print the SIP digest password Meta generated (for the provider: whatsapp trunk's password)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfg, err := config.LoadFile(*path, os.Environ())
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	wa, ok := cfg.WhatsAppService()
	if !ok || cfg.WhatsApp == nil {
		fmt.Fprintln(stderr, "split whatsapp: the configuration has no whatsapp: section (numbers with calling)")
		return 1
	}
	code, seen := 0, false
	for _, n := range wa.Numbers {
		if *only != "" && n.PhoneNumberID != *only {
			continue
		}
		seen = true
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		err := numberSettings(ctx, cfg, wa, n, *push, stdout)
		if err == nil && *showPW {
			err = sipPassword(ctx, wa, n, stdout)
		}
		if err != nil {
			fmt.Fprintf(stderr, "number %s (%s): %v\n", n.PhoneNumberID, n.Number, err)
			code = 1
		}
		cancel()
	}
	if !seen {
		fmt.Fprintf(stderr, "split whatsapp: no number with phone_number_id %q in the configuration\n", *only)
		return 1
	}
	return code
}

func numberSettings(ctx context.Context, cfg *config.Config, wa config.WhatsApp, n config.WhatsAppNumber, push bool, out io.Writer) error {
	c, err := whatsapp.NewClient(wa, n, nil)
	if err != nil {
		return err
	}
	want, err := whatsapp.Desired(cfg, n)
	if err != nil {
		return fmt.Errorf("the settings the configuration implies: %w", err)
	}
	have, err := c.GetSettings(ctx, false)
	if err != nil {
		return fmt.Errorf("GET settings: %w", err)
	}
	fmt.Fprintf(out, "== number %s (%s), entry point %q, signalling %s\n", n.PhoneNumberID, n.Number, n.Entry, n.Signalling)
	printJSON(out, "Meta has", have.Redacted())
	printJSON(out, "the configuration implies", want)
	diff := whatsapp.Diff(have, want)
	if len(diff) == 0 {
		fmt.Fprintln(out, "no difference")
	} else {
		fmt.Fprintln(out, "difference (Meta → configuration):")
		for _, d := range diff {
			fmt.Fprintln(out, "  "+d)
		}
	}
	if have.Calling != nil && have.Calling.Restrictions != nil {
		for _, r := range have.Calling.Restrictions.RestrictionsList {
			fmt.Fprintf(out, "restriction: %s: %s (until %s)\n", r.Type, r.Reason, time.Unix(r.Expiration, 0).UTC().Format(time.RFC3339))
		}
	}
	if !push {
		if len(diff) > 0 {
			fmt.Fprintln(out, "(--push sends the configuration's settings)")
		}
		return nil
	}
	if err := c.PostSettings(ctx, want); err != nil {
		return fmt.Errorf("POST settings: %w", err)
	}
	after, err := c.GetSettings(ctx, false)
	if err != nil {
		return fmt.Errorf("pushed; GET settings again: %w", err)
	}
	if rest := whatsapp.Diff(after, want); len(rest) > 0 {
		fmt.Fprintln(out, "pushed, but Meta still differs:")
		for _, d := range rest {
			fmt.Fprintln(out, "  "+d)
		}
		return fmt.Errorf("Meta did not take %d of the settings", len(rest))
	}
	fmt.Fprintln(out, "pushed: Meta now has the configuration's settings")
	return nil
}

func printJSON(out io.Writer, title string, s whatsapp.Settings) {
	b, err := json.MarshalIndent(s, "  ", "  ")
	if err != nil {
		b = []byte(err.Error())
	}
	fmt.Fprintf(out, "%s:\n  %s\n", title, b)
}

// sipPassword prints the digest password(s) Meta generated for the number's
// SIP servers: asked for explicitly, as the operator must copy it into the
// trunk's password (or SPLIT_SIP_TRUNKS_<i>_PASSWORD).
func sipPassword(ctx context.Context, wa config.WhatsApp, n config.WhatsAppNumber, out io.Writer) error {
	c, err := whatsapp.NewClient(wa, n, nil)
	if err != nil {
		return err
	}
	s, err := c.GetSettings(ctx, true)
	if err != nil {
		return fmt.Errorf("GET settings?include_sip_credentials=true: %w", err)
	}
	if s.Calling == nil || s.Calling.SIP == nil || len(s.Calling.SIP.Servers) == 0 {
		fmt.Fprintln(out, "no SIP server at Meta for this number (signalling: sip, then --push)")
		return nil
	}
	for _, sv := range s.Calling.SIP.Servers {
		fmt.Fprintf(out, "SIP password for %s: %s\n", sv.Hostname, sv.SIPUserPassword)
	}
	return nil
}
