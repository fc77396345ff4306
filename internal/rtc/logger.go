package rtc

import (
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// slogFactory adapts pion's logging to slog. pion's Debug/Trace go to slog
// Debug; nothing per packet reaches Info.
type slogFactory struct{ log *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLogger{f.log.With("pion", scope)}
}

type slogLogger struct{ l *slog.Logger }

func (l slogLogger) Trace(string)              {}
func (l slogLogger) Tracef(string, ...any)     {}
func (l slogLogger) Debug(m string)            { l.l.Debug(m) }
func (l slogLogger) Debugf(f string, a ...any) { l.l.Debug(fmt.Sprintf(f, a...)) }
func (l slogLogger) Info(m string)             { l.l.Debug(m) }
func (l slogLogger) Infof(f string, a ...any)  { l.l.Debug(fmt.Sprintf(f, a...)) }
func (l slogLogger) Warn(m string)             { l.l.Warn(m) }
func (l slogLogger) Warnf(f string, a ...any)  { l.l.Warn(fmt.Sprintf(f, a...)) }
func (l slogLogger) Error(m string)            { l.l.Error(m) }
func (l slogLogger) Errorf(f string, a ...any) { l.l.Error(fmt.Sprintf(f, a...)) }
