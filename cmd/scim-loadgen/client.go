package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// client talks SCIM to the server under test.
type client struct {
	base, token string
	hc          *http.Client
}

func newClient(base, token string, workers int) *client {
	return &client{base: strings.TrimRight(base, "/"), token: token, hc: &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: workers + 4},
	}}
}

// do sends one request and decodes a JSON answer; a status other than want
// (or 200 where want is 204) is an error that names the SCIM detail.
func (c *client) do(ctx context.Context, method, path string, body any, want int) (map[string]any, int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if resp.StatusCode != want && !(want == http.StatusNoContent && resp.StatusCode == http.StatusOK) {
		detail, _ := m["detail"].(string)
		return m, resp.StatusCode, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, detail)
	}
	return m, resp.StatusCode, nil
}

// sigmaCounts are the bridge's Sigma calls so far, read from its /metrics:
// every API call (token and account-type requests apart: they are cached
// per process, not per operation) and the 429s among them.
type sigmaCounts struct{ calls, limited float64 }

// sigmaCounter reads sigmaCounts; nil when the target is not a bridge.
type sigmaCounter func(ctx context.Context) (sigmaCounts, error)

// metricsCounter scrapes scim_bridge_sigma_requests_total from url.
func metricsCounter(url string) sigmaCounter {
	return func(ctx context.Context) (sigmaCounts, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return sigmaCounts{}, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return sigmaCounts{}, err
		}
		defer resp.Body.Close()
		var n sigmaCounts
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "scim_bridge_sigma_requests_total{") ||
				strings.Contains(line, `endpoint="/v2/auth/token"`) || strings.Contains(line, `endpoint="/v2/accountTypes"`) {
				continue
			}
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				continue
			}
			n.calls += v
			if strings.Contains(line, `reason="rate_limited"`) {
				n.limited += v
			}
		}
		return n, sc.Err()
	}
}

// peakRSS is the VmHWM (peak resident set) of process pid in MB, 0 if
// unknown. pid 0 is this process.
func peakRSS(pid int) float64 {
	path := "/proc/self/status"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
