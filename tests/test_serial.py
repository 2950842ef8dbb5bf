"""The flow-controlled relay over the UML serial line, with pipes standing in for the tty."""

from __future__ import annotations

import os
import threading

import pytest

from lab.kernel import serial
from lab.kernel.serial import WINDOW, guest_relay, host_relay


def test_relay_moves_all_bytes_without_overrunning_the_window(monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    data = bytes(range(256)) * 400  # 100 KiB, every byte value
    host_in_r, host_in_w = os.pipe()      # what the host program writes to the guest
    host_out_r, host_out_w = os.pipe()    # what reaches the host program from the guest
    line_down_r, line_down_w = os.pipe()  # serial line, host -> guest
    line_up_r, line_up_w = os.pipe()      # serial line, guest -> host
    prog_in_r, prog_in_w = os.pipe()
    prog_out_r, prog_out_w = os.pipe()
    in_flight = []  # what the guest found waiting on the line at each read
    real_read = serial._read

    def read(fd: int) -> bytes:
        data = real_read(fd)
        if fd == line_down_r:
            in_flight.append(len(data))
        return data

    monkeypatch.setattr(serial, "_read", read)

    def program() -> None:  # echoes its input, then exits on end of file
        while chunk := os.read(prog_in_r, 65536):
            os.write(prog_out_w, chunk)
        os.close(prog_out_w)

    def feeder() -> None:
        os.write(host_in_w, data)
        os.close(host_in_w)

    def guest() -> None:
        # the guest's serial fd is read and written: give it a pair joined by a thread
        guest_relay(line_down_r, prog_in_w, prog_out_r, idle=lambda: None, write_fd=line_up_w)
        os.close(line_up_w)

    threads = [threading.Thread(target=t) for t in (program, feeder, guest)]
    for t in threads:
        t.start()
    received = bytearray()

    def sink() -> None:
        while chunk := os.read(host_out_r, 65536):
            received.extend(chunk)

    sink_thread = threading.Thread(target=sink)
    sink_thread.start()
    host_relay(host_in_r, host_out_w, line_down_w, line_up_r)
    os.close(host_out_w)
    for t in [*threads, sink_thread]:
        t.join(10)
    assert bytes(received) == data
    assert max(in_flight) <= WINDOW
