// Command split is the SPLIT hub: SIP ⇄ WebRTC gateway for contact centres.
//
//	split [serve] [--config split.yaml]   run the hub (default)
//	split config check [--config f]       validate a configuration and exit
//	split migrate [--config f]            bring the store's schema up to date and exit
//	split health [--config f] [--url u]   exit 0 when the hub answers /readyz 200 (container health checks)
//	split whatsapp settings [--config f] [--push]  show (and push) the WhatsApp calling settings
//	split version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/split-hub/split/internal/app"
	"github.com/split-hub/split/internal/config"
)

// killGrace bounds what a second signal waits for: the hang-ups already
// sent leave; nothing else is waited for.
const killGrace = 300 * time.Millisecond

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		fmt.Println("split", app.Version)
		return 0
	case "config":
		if len(args) == 0 || args[0] != "check" {
			fmt.Fprintln(os.Stderr, "usage: split config check [--config FILE]")
			return 2
		}
		cfg, err := load(args[1:])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("configuration OK (%d trunks)\n", len(cfg.SIP.Trunks))
		return 0
	case "whatsapp":
		return whatsappCmd(args, os.Stdout, os.Stderr)
	case "migrate":
		return migrateCmd(args, os.Stdout, os.Stderr)
	case "health":
		return healthCmd(args, os.Stdout, os.Stderr)
	case "serve":
		cfg, err := load(args)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		log := app.NewLogger(cfg.Log, os.Stderr)
		for _, name := range config.UnknownEnv(cfg, os.Environ()) {
			log.Warn("environment variable names no configuration key", "name", name)
		}
		// First SIGTERM/SIGINT: drain. Second: stop at once.
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		defer signal.Stop(sigs)
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		kill, killStop := context.WithCancel(context.Background())
		defer killStop()
		done := make(chan struct{})
		defer close(done)
		go func() {
			// One handler for both signals: no moment in between where a
			// signal would take the default action (exit 143).
			select {
			case <-sigs:
			case <-done:
				return
			}
			stop()
			select {
			case <-sigs:
			case <-done:
				return
			}
			log.Warn("second signal: stopping now", "grace", killGrace.String())
			killStop()
			// app.Run cuts its teardown short once killed (BYEs sent, not
			// waited for); whatever still blocks after killGrace is left
			// to the operating system.
			select {
			case <-time.After(killGrace):
				os.Exit(1)
			case <-done:
			}
		}()
		if err := app.Run(ctx, kill, cfg, log, os.Stdout); err != nil {
			if errors.Is(err, app.ErrKilled) {
				return 1
			}
			log.Error("split stopped", "err", err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(os.Stderr, "split: unknown command %q (serve, config check, whatsapp settings, version)\n", cmd)
		return 2
	}
}

func load(args []string) (*config.Config, error) {
	fs := flag.NewFlagSet("split", flag.ContinueOnError)
	path := fs.String("config", os.Getenv("SPLIT_CONFIG"), "YAML configuration file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	cfg, err := config.LoadFile(*path, os.Environ())
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}
