package jobs

import (
	"encoding/json"
	"fmt"
	"time"
)

// NotStarted is the summary of a sync, backfill or rebuild that never
// started (a bad config, a lake locked by another run): what
// --summary-file holds in place of the summary it has not got.
type NotStarted struct {
	Command    string    `json:"command"`
	FinishedAt time.Time `json:"finished_at"`
	Duration   float64   `json:"duration_seconds"`
	Status     string    `json:"status"` // stopped (exit 75) or failed
	Error      string    `json:"error"`
}

// NewNotStarted is the summary of a run that began at start and ended
// now with err, which kept it from starting.
func NewNotStarted(command string, start, now time.Time, err error) *NotStarted {
	s := &NotStarted{Command: command, FinishedAt: now.UTC(), Duration: now.Sub(start).Seconds(), Status: RunStatus(err)}
	if err != nil {
		s.Error = err.Error()
	}
	return s
}

// Metrics is the metrics of a run that never started: its status,
// duration and end time, and nothing written.
func (s *NotStarted) Metrics() RunMetrics {
	return RunMetrics{Command: s.Command, Status: s.Status, Finished: s.FinishedAt, Duration: s.Duration}
}

// summaryJSON encodes a run summary (a *Summary, a *RebuildReport or a
// *NotStarted) as it is written under _runs/ and to --summary-file.
func summaryJSON(summary any) ([]byte, error) {
	b, err := json.MarshalIndent(summary, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteSummaryFile writes a run summary (a *Summary, a *RebuildReport or
// a *NotStarted) to path as JSON, the same bytes as its record under
// _runs/ (e.g. for an Airflow XCom, /airflow/xcom/return.json). The file
// is replaced atomically, as a metrics file is.
func WriteSummaryFile(path string, summary any) error {
	b, err := summaryJSON(summary)
	if err == nil {
		err = writeFileAtomic(path, b)
	}
	if err != nil {
		return fmt.Errorf("summary file: %w", err)
	}
	return nil
}
