// A hand-written Go contender for the benchmark suite (bench/suite.ts): the standard library only,
// a 4-byte big-endian length prefix as sockframe's default framing, writes batched through bufio.
// It speaks the protocol of bench/worker.ts: one JSON job as the argument, "PORT n", "MARK",
// "RESULT {json}" and "CPU µs" lines on stdout, commands ("CPU") on stdin, whose end stops a server.
//
//	server      {}                               an echo server
//	flood-recv  {size}                           counts messages until the 1-byte end marker
//	flood-send  {size, port, ms, warmup}         sends for warmup ms, a 2-byte start marker, ms
//	                                             more, then the end marker
//	echo-load   {port, clients, ms, warmup}      concurrent ping-pong of 64-byte messages
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	host        = "127.0.0.1"
	first       = 0xab
	last        = 0xcd
	startMarker = 2
	endMarker   = 1
	echoSize    = 64
	batch       = 64 * 1024
)

type job struct {
	Role    string  `json:"role"`
	Size    int     `json:"size"`
	Port    int     `json:"port"`
	Ms      float64 `json:"ms"`
	Warmup  float64 `json:"warmup"`
	Clients int     `json:"clients"`
}

var out = struct {
	sync.Mutex
	w *bufio.Writer
}{w: bufio.NewWriter(os.Stdout)}

func say(format string, args ...interface{}) {
	out.Lock()
	defer out.Unlock()
	fmt.Fprintf(out.w, format+"\n", args...)
	out.w.Flush()
}

func result(v interface{}) {
	text, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	say("RESULT %s", text)
}

// cpuMicros is the CPU time of the process (every thread, user and system).
func cpuMicros() int64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return usage.Utime.Usec + usage.Utime.Sec*1e6 + usage.Stime.Usec + usage.Stime.Sec*1e6
}

func peakRss() int64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return usage.Maxrss * 1024
}

// wallClock is milliseconds since the epoch, comparable with the Node workers' clocks.
func wallClock() float64 {
	return float64(time.Now().UnixNano()) / 1e6
}

func payload(size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = 0x11
	}
	if size > 0 {
		p[0] = first
		p[size-1] = last
	}
	return p
}

func intact(message []byte, size int) bool {
	if len(message) != size {
		return false
	}
	return size < 2 || (message[0] == first && message[size-1] == last)
}

// readFrame reads one frame's payload into buf (grown as needed).
func readFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	var header [4]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return buf, err
	}
	n := int(binary.BigEndian.Uint32(header[:]))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(r, buf)
	return buf, err
}

func writeFrame(w *bufio.Writer, message []byte) error {
	var header [4]byte
	binary.BigEndian.PutUint32(header[:], uint32(len(message)))
	if _, err := w.Write(header[:]); err != nil {
		return err
	}
	_, err := w.Write(message)
	return err
}

func listen() net.Listener {
	listener, err := net.Listen("tcp", host+":0")
	if err != nil {
		fail(err)
	}
	say("PORT %d", listener.Addr().(*net.TCPAddr).Port)
	return listener
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}

// onCommands answers "CPU" and exits when stdin ends.
func onCommands() {
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		if scanner.Text() == "CPU" {
			say("CPU %d", cpuMicros())
		}
	}
	os.Exit(0)
}

func server() {
	listener := listen()
	go onCommands()
	for {
		conn, err := listener.Accept()
		if err != nil {
			fail(err)
		}
		go func(conn net.Conn) {
			defer conn.Close()
			conn.(*net.TCPConn).SetNoDelay(true)
			r := bufio.NewReaderSize(conn, batch)
			w := bufio.NewWriterSize(conn, batch)
			var buf []byte
			for {
				var err error
				if buf, err = readFrame(r, buf); err != nil {
					w.Flush()
					return
				}
				if writeFrame(w, buf) != nil {
					return
				}
				// Batched: the replies to everything already read leave in one write.
				if r.Buffered() == 0 && w.Flush() != nil {
					return
				}
			}
		}(conn)
	}
}

func floodRecv(size int) {
	listener := listen()
	conn, err := listener.Accept()
	if err != nil {
		fail(err)
	}
	r := bufio.NewReaderSize(conn, batch)
	var warm, messages, bytes, bad int64
	measuring := false
	var cpuAtStart int64
	var buf []byte
	for {
		if buf, err = readFrame(r, buf); err != nil {
			fail(err)
		}
		switch {
		case len(buf) == endMarker:
			result(map[string]interface{}{
				"warm": warm, "messages": messages, "bytes": bytes, "bad": bad,
				"lastAt": wallClock(), "peakRss": peakRss(), "cpu": cpuMicros() - cpuAtStart,
			})
			os.Exit(0)
		case len(buf) == startMarker:
			measuring = true
			cpuAtStart = cpuMicros()
			continue
		}
		if !intact(buf, size) {
			bad++
		}
		if !measuring {
			warm++
			continue
		}
		messages++
		bytes += int64(len(buf))
	}
}

func dial(port int) net.Conn {
	conn, err := net.Dial("tcp", fmt.Sprintf("%s:%d", host, port))
	if err != nil {
		fail(err)
	}
	conn.(*net.TCPConn).SetNoDelay(true)
	return conn
}

func floodSend(size, port int, ms, warmup float64) {
	conn := dial(port)
	w := bufio.NewWriterSize(conn, batch)
	message := payload(size)
	between := 65536 / size
	if between < 1 {
		between = 1
	}
	pump := func(until time.Time) int64 {
		var count int64
		for {
			for i := 0; i < between; i++ {
				if writeFrame(w, message) != nil {
					fail(fmt.Errorf("write failed"))
				}
				count++
			}
			if !time.Now().Before(until) {
				return count
			}
		}
	}
	warm := pump(time.Now().Add(time.Duration(warmup * float64(time.Millisecond))))
	writeFrame(w, payload(startMarker))
	w.Flush()
	startedAt := wallClock()
	cpuAtStart := cpuMicros()
	sent := pump(time.Now().Add(time.Duration(ms * float64(time.Millisecond))))
	writeFrame(w, payload(endMarker))
	if err := w.Flush(); err != nil {
		fail(err)
	}
	result(map[string]interface{}{
		"warm": warm, "sent": sent, "bytes": sent * int64(size), "startedAt": startedAt,
		"cpu": cpuMicros() - cpuAtStart,
	})
	conn.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, conn)
}

func echoLoad(port, clients int, ms, warmup float64) {
	var counting, stopped atomic.Bool
	var count, bad atomic.Int64
	var done sync.WaitGroup
	conns := make([]net.Conn, clients)
	for i := range conns {
		conns[i] = dial(port)
	}
	for _, conn := range conns {
		done.Add(1)
		go func(conn net.Conn) {
			defer done.Done()
			r := bufio.NewReaderSize(conn, 4096)
			w := bufio.NewWriterSize(conn, 4096)
			message := payload(echoSize)
			var buf []byte
			for !stopped.Load() {
				var err error
				if writeFrame(w, message) != nil || w.Flush() != nil {
					fail(fmt.Errorf("write failed"))
				}
				if buf, err = readFrame(r, buf); err != nil {
					fail(err)
				}
				if !intact(buf, echoSize) {
					bad.Add(1)
				}
				if counting.Load() && !stopped.Load() {
					count.Add(1)
				}
			}
			conn.Close()
		}(conn)
	}
	time.Sleep(time.Duration(warmup * float64(time.Millisecond)))
	counting.Store(true)
	say("MARK")
	cpuAtStart := cpuMicros()
	start := time.Now()
	time.Sleep(time.Duration(ms * float64(time.Millisecond)))
	stopped.Store(true)
	seconds := time.Since(start).Seconds()
	cpu := cpuMicros() - cpuAtStart
	done.Wait()
	trips := count.Load()
	result(map[string]interface{}{
		"roundTrips": trips, "seconds": seconds, "rate": float64(trips) / seconds, "bad": bad.Load(), "cpu": cpu,
	})
	os.Exit(0)
}

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: go-bench '{\"role\":...}'"))
	}
	var j job
	if err := json.Unmarshal([]byte(os.Args[1]), &j); err != nil {
		fail(err)
	}
	switch j.Role {
	case "server":
		server()
	case "flood-recv":
		floodRecv(j.Size)
	case "flood-send":
		floodSend(j.Size, j.Port, j.Ms, j.Warmup)
	case "echo-load":
		echoLoad(j.Port, j.Clients, j.Ms, j.Warmup)
	default:
		fail(fmt.Errorf("the Go contender has no role %q", j.Role))
	}
}
