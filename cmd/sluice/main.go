// Command sluice is the sluice API gateway.
//
//	sluice run -c FILE     serve until SIGTERM/SIGINT, then drain and exit
//	sluice check -c FILE   report every problem in FILE, exit 2 when invalid
//	sluice schema          print the JSON Schema of the config file
//	sluice version         print the version
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/engine/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "run" {
		tuneRuntime() // re-executes once with the tuned runtime (runtime.go)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  sluice run -c FILE     load FILE, serve until SIGTERM/SIGINT, then drain
  sluice check -c FILE   validate FILE; exit 0 when valid, 2 when not
  sluice schema          print the JSON Schema (draft 2020-12) of the config file
  sluice version         print the version
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "version", "-v", "--version":
		fmt.Fprintln(stdout, "sluice", version)
		return 0
	case "schema":
		stdout.Write(config.JSONSchema())
		return 0
	case "check", "run":
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q\n%s", args[0], usage)
		return 2
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "config file")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *file == "" {
		fmt.Fprintf(stderr, "sluice %s: -c FILE is required\n", args[0])
		return 2
	}
	if args[0] == "check" {
		slog.SetDefault(newWarningLogger(stderr))
	}
	e, ok := compile(*file, stderr)
	if !ok {
		return 2
	}
	if args[0] == "check" {
		e.Close()
		fmt.Fprintf(stdout, "%s: ok\n", *file)
		return 0
	}
	return serve(e, stderr)
}

// compile loads and compiles file, printing every problem one a line.
func compile(file string, stderr io.Writer) (*engine.Engine, bool) {
	e, errs := engine.LoadFile(file)
	if len(errs) > 0 {
		printErrors(stderr, errs)
		return nil, false
	}
	return e, true
}

func printErrors(w io.Writer, err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	fmt.Fprintln(w, err)
}

func serve(e *engine.Engine, stderr io.Writer) int {
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	slog.SetDefault(logger)
	srv, err := engine.NewServer(e)
	if err != nil {
		printErrors(stderr, err)
		return 2
	}
	if err := srv.Listen(); err != nil {
		logger.Error("start", "err", err)
		return 1
	}
	if err := e.Start(); err != nil {
		logger.Error("start", "err", err)
		return 1
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	srv.Serve()
	logger.Info("sluice serving", "listen", srv.Addr().String(), "admin", fmt.Sprint(srv.AdminAddr()), "version", version, "config_sha256", e.ConfigSHA256())
	s := <-sig
	logger.Info("draining", "signal", s.String())
	clean := srv.Shutdown()
	e.Close()
	if !clean {
		logger.Warn("shutdown timeout cut requests off")
		return 1
	}
	logger.Info("stopped")
	return 0
}
