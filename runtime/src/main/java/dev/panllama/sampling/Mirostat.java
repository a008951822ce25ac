package dev.panllama.sampling;

/**
 * llama.cpp's Mirostat samplers, which pick a token in place of the usual filters and keep the text's
 * surprise near a target: version 1 (a top-k whose k follows the estimated Zipf exponent of the
 * distribution) or 2 (the tokens whose surprise is within the running bound {@code mu}), each updating
 * {@code mu} from the surprise of the token it drew. As in llama.cpp, only the logit biases and the
 * temperature come before it: no penalties, top-k, top-p, min-p or other filters.
 *
 * @param version 0 (off), 1 or 2 ({@code --mirostat}, {@code mirostat})
 * @param tau     the target surprise in bits ({@code --mirostat-ent}, {@code mirostat_tau}); {@code mu} starts at twice it
 * @param eta     the learning rate of {@code mu} ({@code --mirostat-lr}, {@code mirostat_eta})
 */
public record Mirostat(int version, float tau, float eta) {

    /** Off, with llama.cpp's defaults for tau (5) and eta (0.1). */
    public static final Mirostat OFF = new Mirostat(0, 5f, 0.1f);

    /** How many of the most likely tokens version 1 estimates the Zipf exponent from, as llama.cpp's tools. */
    static final int ZIPF_SAMPLE = 100;

    public Mirostat {
        if (version < 0 || version > 2) {
            throw new IllegalArgumentException("--mirostat must be 0 (off), 1 or 2, not " + version);
        }
        if (!Float.isFinite(tau)) {
            throw new IllegalArgumentException("--mirostat-ent must be a finite number, not " + tau);
        }
        if (!Float.isFinite(eta)) {
            throw new IllegalArgumentException("--mirostat-lr must be a finite number, not " + eta);
        }
    }

    public boolean on() {
        return version != 0;
    }
}
