package optimo

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestScratch(t *testing.T) {
	for _, sc := range []Scale{ScaleSmall, ScaleMedium, ScaleLarge} {
		t0 := time.Now()
		s := New(Options{Seed: 3, Scale: sc, AdminToken: "a"})
		d := s.Truth()
		res := 0
		for _, a := range d.Assessments {
			res += len(a.Results)
		}
		fmt.Println(sc, len(d.Athletes), len(d.Coaches), len(d.Workouts), len(d.Assessments), res, time.Since(t0), historyDays(s.loc, s.now))
	}
	s := New(Options{Seed: 1, AdminToken: "a"})
	for _, m := range []string{"athlete.list", "coach.list", "workout.list", "assessment.list"} {
		req := httptest.NewRequest("POST", Endpoint, strings.NewReader(`<?xml version="1.0" encoding="utf-8"?><request method="`+m+`"><per_page>4</per_page></request>`))
		req.SetBasicAuth("a", "X")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Body.String())
	}
	d := s.Truth()
	for _, w := range d.Workouts {
		if w.Notes != nil && strings.Contains(*w.Notes, "hour") {
			fmt.Println(w.WorkoutID, w.StartedAt, w.CreatedAt, *w.Notes)
		}
	}
	for _, a := range d.Assessments {
		if a.Notes != nil && strings.Contains(*a.Notes, "hour") {
			fmt.Println(a.AssessmentID, a.AssessedAt, a.CreatedAt, *a.Notes)
		}
	}
	r := s.Advance(36 * time.Hour)
	fmt.Printf("%+v\n", r)
}
