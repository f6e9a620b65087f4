package writerbench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// pageRows is the length of one API page, which is how records arrive.
const pageRows = 500

var (
	tsUTC  = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	tsWall = &arrow.TimestampType{Unit: arrow.Microsecond}
)

// Every column is nullable, as in schemas.Table.ArrowSchema: a missing vendor
// value is null. Only some columns actually hold nulls.
func field(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t, Nullable: true}
}

var repsSchema = arrow.NewSchema([]arrow.Field{
	field("set_id", arrow.BinaryTypes.String),
	field("rep_index", arrow.PrimitiveTypes.Int32),
	field("flight_time_ms", arrow.PrimitiveTypes.Int32),
	field("contact_time_ms", arrow.PrimitiveTypes.Int32),
	field("jump_height_cm", arrow.PrimitiveTypes.Float64),
	field("rsi", arrow.PrimitiveTypes.Float64),
	field("side", arrow.BinaryTypes.String),
	field("is_kept", arrow.FixedWidthTypes.Boolean),
	field("captured_at", tsUTC),
	field("_extracted_at", tsUTC),
	field("_run_id", arrow.BinaryTypes.String),
	field("_extra", arrow.BinaryTypes.String),
}, nil)

var samplesSchema = arrow.NewSchema([]arrow.Field{
	field("player_session_id", arrow.BinaryTypes.String),
	field("offset_ms", arrow.PrimitiveTypes.Int64),
	field("sample_time", tsWall),
	field("hr", arrow.PrimitiveTypes.Int32),
	field("speed", arrow.PrimitiveTypes.Float64),
	field("distance", arrow.PrimitiveTypes.Float64),
	field("cadence", arrow.PrimitiveTypes.Int32),
	field("lat", arrow.PrimitiveTypes.Float64),
	field("lon", arrow.PrimitiveTypes.Float64),
	field("altitude", arrow.PrimitiveTypes.Float64),
	field("forward_acceleration", arrow.PrimitiveTypes.Float64),
	field("power", arrow.PrimitiveTypes.Int32),
}, nil)

func uuidLike(r *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x",
		r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, 0x8000|r.Uint32()&0x3fff, r.Uint64()&0xffffffffffff)
}

func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

func micros(t time.Time) arrow.Timestamp { return arrow.Timestamp(t.UnixMicro()) }

// genReps returns n rows of the reps table cut into records of batchRows rows.
// The data depends only on n, never on batchRows.
func genReps(mem memory.Allocator, n, batchRows int) []arrow.RecordBatch {
	r := rand.New(rand.NewPCG(1, 2))
	b := array.NewRecordBuilder(mem, repsSchema)
	defer b.Release()
	var (
		setID     = b.Field(0).(*array.StringBuilder)
		repIndex  = b.Field(1).(*array.Int32Builder)
		flight    = b.Field(2).(*array.Int32Builder)
		contact   = b.Field(3).(*array.Int32Builder)
		height    = b.Field(4).(*array.Float64Builder)
		rsi       = b.Field(5).(*array.Float64Builder)
		side      = b.Field(6).(*array.StringBuilder)
		kept      = b.Field(7).(*array.BooleanBuilder)
		captured  = b.Field(8).(*array.TimestampBuilder)
		extracted = b.Field(9).(*array.TimestampBuilder)
		runIDCol  = b.Field(10).(*array.StringBuilder)
		extra     = b.Field(11).(*array.StringBuilder)
		sides     = [...]string{"left", "right", "both"}
		runID     = uuidLike(r)
		t         = time.Date(2024, 1, 8, 7, 30, 0, 0, time.UTC)
		extractAt = time.Date(2025, 6, 2, 3, 0, 0, 0, time.UTC)
		set       string
		setSide   string
		left, rep int
	)
	return cut(b, n, batchRows, func(i int) {
		if left == 0 {
			set, left, rep = uuidLike(r), 6+r.IntN(5), 0
			setSide = sides[r.IntN(3)]
			t = t.Add(time.Duration(2+r.IntN(240)) * time.Minute)
		}
		t = t.Add(time.Duration(2_500_000+r.IntN(2_000_000)) * time.Microsecond)
		ft := int32(420 + r.IntN(260) + int(r.NormFloat64()*15))
		setID.Append(set)
		repIndex.Append(int32(rep))
		flight.Append(ft)
		fs := float64(ft) / 1000
		h := 9.81 * fs * fs / 8 * 100 // cm
		height.Append(round(h, 2))
		if r.IntN(2) == 0 {
			contact.AppendNull()
			rsi.AppendNull()
		} else {
			ct := int32(150 + r.IntN(250))
			contact.Append(ct)
			rsi.Append(round(h/100/(float64(ct)/1000), 2))
		}
		side.Append(setSide)
		kept.Append(r.IntN(10) != 0)
		captured.Append(micros(t))
		extracted.Append(micros(extractAt.Add(time.Duration(i/pageRows) * 137 * time.Millisecond)))
		runIDCol.Append(runID)
		if r.IntN(50) == 0 {
			extra.Append(fmt.Sprintf(`{"device":"plyomat-%d","fw":"1.4.%d","note":"rep flagged by coach %d"}`, r.IntN(4), r.IntN(9), r.IntN(1000)))
		} else {
			extra.AppendNull()
		}
		left--
		rep++
	})
}

// sessionRows is the length of one player session: 90 minutes at 10 Hz.
const sessionRows = 54_000

// genSamples returns n rows of the samples table cut into records of
// batchRows rows. The data depends only on n, never on batchRows.
func genSamples(mem memory.Allocator, n, batchRows int) []arrow.RecordBatch {
	r := rand.New(rand.NewPCG(3, 4))
	b := array.NewRecordBuilder(mem, samplesSchema)
	defer b.Release()
	var (
		sessionID = b.Field(0).(*array.StringBuilder)
		offsetMS  = b.Field(1).(*array.Int64Builder)
		sampleT   = b.Field(2).(*array.TimestampBuilder)
		hrCol     = b.Field(3).(*array.Int32Builder)
		speedCol  = b.Field(4).(*array.Float64Builder)
		distCol   = b.Field(5).(*array.Float64Builder)
		cadCol    = b.Field(6).(*array.Int32Builder)
		latCol    = b.Field(7).(*array.Float64Builder)
		lonCol    = b.Field(8).(*array.Float64Builder)
		altCol    = b.Field(9).(*array.Float64Builder)
		accCol    = b.Field(10).(*array.Float64Builder)
		powCol    = b.Field(11).(*array.Int32Builder)

		session                        string
		start                          time.Time
		hr, speed, dist, lat, lon, alt float64
		heading                        float64
		hrGap                          int
	)
	return cut(b, n, batchRows, func(i int) {
		k := i % sessionRows
		if k == 0 {
			s := i / sessionRows
			session = uuidLike(r)
			start = time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC).Add(time.Duration(s)*26*time.Hour + time.Duration(r.IntN(3600))*time.Second)
			hr, speed, dist = 70+r.Float64()*15, 0, 0
			lat, lon, alt = 51.5560+r.Float64()*0.002, -0.2795+r.Float64()*0.003, 35+r.Float64()*5
			heading = r.Float64() * 2 * math.Pi
		}
		prev := speed
		// Speed: mean-reverting random walk with occasional sprints, 0..9.5 m/s.
		target := 2.0
		if (k/600)%5 == 4 {
			target = 6.5
		}
		speed += (target-speed)*0.02 + r.NormFloat64()*0.12
		speed = round(min(max(speed, 0), 9.5), 2)
		dist = round(dist+speed*0.1, 2)
		heading += r.NormFloat64() * 0.05
		lat = lat + speed*0.1*math.Cos(heading)/111_320
		lon = lon + speed*0.1*math.Sin(heading)/(111_320*math.Cos(lat*math.Pi/180))
		alt = round(alt+r.NormFloat64()*0.02, 1)
		hr += (80+speed*12-hr)*0.01 + r.NormFloat64()*0.3

		sessionID.Append(session)
		offsetMS.Append(int64(k) * 100)
		sampleT.Append(micros(start.Add(time.Duration(k) * 100 * time.Millisecond)))
		// Heart rate: strap dropouts of a few seconds, ~3% of samples.
		if hrGap == 0 && r.IntN(1000) == 0 {
			hrGap = 10 + r.IntN(50)
		}
		if hrGap > 0 {
			hrGap--
			hrCol.AppendNull()
		} else {
			hrCol.Append(int32(math.Round(hr)))
		}
		speedCol.Append(speed)
		distCol.Append(dist)
		if speed < 0.5 {
			cadCol.AppendNull()
		} else {
			cadCol.Append(int32(math.Round(120 + speed*9 + r.NormFloat64()*2)))
		}
		latCol.Append(round(lat, 7))
		lonCol.Append(round(lon, 7))
		altCol.Append(alt)
		accCol.Append(round((speed-prev)/0.1, 2))
		if r.IntN(4) == 0 {
			powCol.AppendNull()
		} else {
			powCol.Append(int32(math.Round(speed*speed*6 + r.NormFloat64()*4)))
		}
	})
}

// cut calls row(i) for i in [0,n), each call appending row i to b, and
// returns the rows as records of batchRows rows (the last may be shorter).
func cut(b *array.RecordBuilder, n, batchRows int, row func(i int)) []arrow.RecordBatch {
	var recs []arrow.RecordBatch
	for i := range n {
		row(i)
		if (i+1)%batchRows == 0 || i+1 == n {
			recs = append(recs, b.NewRecordBatch())
		}
	}
	return recs
}
