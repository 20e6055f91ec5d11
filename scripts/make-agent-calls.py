#!/usr/bin/env python3
"""Rebuilds Tests/Fixtures/agent-calls: scripted two-channel calls between a caller and an agent who does or does not
follow the agent rules (Models/qa/agent-rules.yaml), each leg read by its own natural-sounding voice (the agent:
hibari-tts's bundled `heart`; the caller: festival's `ked_diphone`), put through a telephone channel (300-3400 Hz,
8 kHz mu-law) and laid out as a PBX records a call: caller on the left channel, agent on the right, taking turns.
Needs hibari-tts (pip), festival with festvox-kdlpc16k, and numpy. The results are committed; nothing at build or test
time runs this. The CMU voices kept for independent acceptance checks (flite's, festival's kal and slt) are not used.
"""
import os
import struct
import subprocess
import sys
import tempfile
import wave

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "agent-calls")

# name -> (what it is written to break, turns). A turn is (speaker, text); the pause after each turn is 0.6 s.
CALLS = {
    "clean-card": ("", [
        ("agent", "Thank you for calling First Community Bank, my name is Sarah. This call may be recorded for quality. How can I help you today?"),
        ("caller", "Hi, I lost my debit card yesterday and I need to block it."),
        ("agent", "I am sorry to hear that. I have blocked the card, and a new one is on its way to you."),
        ("caller", "Great, thank you."),
        ("agent", "Is there anything else I can help you with today?"),
        ("caller", "No, that is all."),
        ("agent", "Thank you for calling, and have a good day. Goodbye."),
    ]),
    "clean-balance": ("", [
        ("agent", "Thank you for calling First Community Bank, this is Mike speaking. Please note this call is recorded for training. How may I help you?"),
        ("caller", "I would like to know the balance of my savings account."),
        ("agent", "Of course. First, can you confirm your date of birth for me?"),
        ("caller", "It is the third of May, nineteen eighty."),
        ("agent", "Thank you, you are verified. Your savings account has two thousand dollars in it."),
        ("caller", "Thanks."),
        ("agent", "Is there anything else I can do for you?"),
        ("caller", "No thanks."),
        ("agent", "Thank you for calling. Have a nice day."),
    ]),
    "rude-agent": ("agent_greeting recording_notice agent_rude agent_closing", [
        ("agent", "Yeah. What do you want?"),
        ("caller", "I was charged twice for the same payment and this is ridiculous."),
        ("agent", "Calm down. That is not my problem, you should have checked your statement."),
        ("caller", "I want to speak to a supervisor."),
        ("agent", "Whatever. I already told you there is nothing I can do."),
    ]),
    "no-notice": ("recording_notice agent_closing details_before_verification", [
        ("agent", "Thank you for calling First Community Bank, my name is Anna. How can I help you?"),
        ("caller", "I need to pay my phone bill from my checking account."),
        ("agent", "Alright, the payment of sixty dollars is done. Your account has four hundred dollars left in it."),
        ("caller", "Okay."),
    ]),
}


def synthesize(speaker, text, path, seed):
    if speaker == "agent":
        subprocess.run(["hibari", "--voice", "heart", "--speed", "1.0", "--seed", str(seed), "-o", path, text],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        subprocess.run(["text2wave", "-eval", "(voice_ked_diphone)", "-o", path], input=text.encode(), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def read(path):
    with wave.open(path) as w:
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype={2: np.int16, 4: np.int32}[width]).astype(np.float64)
    data = data.reshape(-1, channels).mean(axis=1) / (2 ** (8 * width - 1))
    return data, rate


def telephone(samples, rate):
    """Band-limits to 300-3400 Hz and resamples to 8 kHz in the frequency domain, then trims leading/trailing silence."""
    n = len(samples)
    spectrum = np.fft.rfft(samples)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spectrum[(freqs < 300) | (freqs > 3400)] = 0
    m = int(round(n * 8000 / rate))
    out = np.fft.irfft(spectrum[: m // 2 + 1], m) * (m / n)
    voiced = np.where(np.abs(out) > 0.01)[0]
    out = out[max(0, voiced[0] - 80): voiced[-1] + 80] if len(voiced) else out
    peak = np.max(np.abs(out)) or 1
    return out * (0.5 / peak)


def mulaw(samples):
    """G.711 mu-law codes."""
    pcm = np.clip(samples * 32768, -32768, 32767).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(pcm), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


def write_mulaw_stereo(path, left, right):
    frames = np.empty(2 * len(left), dtype=np.uint8)
    frames[0::2], frames[1::2] = mulaw(left), mulaw(right)
    data = frames.tobytes()
    fmt = struct.pack("<HHIIHHH", 7, 2, 8000, 16000, 2, 8, 0)
    fact = struct.pack("<I", len(left))
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<I", 4) + fact
    body += b"data" + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body)) + body)


def main():
    os.makedirs(OUT, exist_ok=True)
    labels = ["file\tbreaks\tturns"]
    with tempfile.TemporaryDirectory() as tmp:
        for number, (name, (breaks, turns)) in enumerate(CALLS.items()):
            left, right = [np.zeros(4000)], [np.zeros(4000)]
            for index, (speaker, text) in enumerate(turns):
                path = os.path.join(tmp, f"{name}-{index}.wav")
                synthesize(speaker, text, path, seed=number * 100 + index)
                audio = telephone(*read(path))
                gap = np.zeros(4800)
                speaking, listening = (right, left) if speaker == "agent" else (left, right)
                speaking += [audio, gap]
                listening += [np.zeros(len(audio)), gap]
            write_mulaw_stereo(os.path.join(OUT, f"{name}.wav"), np.concatenate(left), np.concatenate(right))
            labels.append(f"{name}.wav\t{breaks}\t" + " | ".join(f"{s}: {t}" for s, t in turns))
    with open(os.path.join(OUT, "calls.tsv"), "w") as f:
        f.write("\n".join(labels) + "\n")
    print("\n".join(labels), file=sys.stderr)


if __name__ == "__main__":
    main()
