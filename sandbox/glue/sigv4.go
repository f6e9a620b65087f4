package glue

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// authenticate checks the request's AWS Signature Version 4 as Glue does:
// an unknown access key id is UnrecognizedClientException, a signature
// the secret key does not give is InvalidSignatureException, a scope
// other than glue (or than the simulator's region) too.
func (s *Server) authenticate(r *http.Request, body []byte) *apiError {
	deny := func(typ, msg string) *apiError {
		return &apiError{status: http.StatusBadRequest, typ: typ, msg: msg, lower: true}
	}
	if r.Header.Get("X-Amz-Security-Token") != "" {
		// The simulator issues no session tokens.
		return deny("UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	auth := r.Header.Get("Authorization")
	alg, rest, _ := strings.Cut(auth, " ")
	if auth == "" {
		return &apiError{status: http.StatusBadRequest, typ: "MissingAuthenticationTokenException", msg: "Missing Authentication Token", lower: true}
	}
	if alg != "AWS4-HMAC-SHA256" {
		return deny("IncompleteSignatureException", "Unsupported AWS 'algorithm': '"+alg+"'")
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	cred, signed, sig := fields["Credential"], fields["SignedHeaders"], fields["Signature"]
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || signed == "" || sig == "" || scope[4] != "aws4_request" {
		return deny("IncompleteSignatureException", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.")
	}
	keyID, day, region, service := scope[0], scope[1], scope[2], scope[3]
	if keyID != s.o.AccessKey {
		return deny("UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	if service != "glue" || (s.o.Region != "" && region != s.o.Region) {
		return deny("InvalidSignatureException", "Credential should be scoped to correct service/region: '"+service+"/"+region+"'.")
	}
	amzDate := r.Header.Get("X-Amz-Date")
	when, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || !strings.HasPrefix(amzDate, day) {
		return deny("IncompleteSignatureException", "Date must be in ISO-8601 'basic format' and match the credential scope.")
	}
	if d := time.Since(when); d > 15*time.Minute || d < -15*time.Minute {
		return deny("InvalidSignatureException", "Signature expired: "+amzDate+" is now earlier than 15 minutes before the server's time.")
	}
	// The canonical request, of the headers the client says it signed.
	var canon strings.Builder
	canon.WriteString(r.Method + "\n" + r.URL.EscapedPath() + "\n" + r.URL.RawQuery + "\n")
	for _, h := range strings.Split(signed, ";") {
		var vals []string
		switch h {
		case "host":
			vals = []string{r.Host}
		case "content-length":
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		default:
			vals = slices.Clone(r.Header.Values(h))
		}
		for i, v := range vals {
			vals[i] = strings.Join(strings.Fields(v), " ")
		}
		canon.WriteString(h + ":" + strings.Join(vals, ",") + "\n")
	}
	payload := sha256.Sum256(body)
	canon.WriteString("\n" + signed + "\n" + hex.EncodeToString(payload[:]))
	creq := sha256.Sum256([]byte(canon.String()))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + strings.Join(scope[1:], "/") + "\n" + hex.EncodeToString(creq[:])
	key := []byte("AWS4" + s.o.SecretKey)
	for _, part := range []string{day, region, service, "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return deny("InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
