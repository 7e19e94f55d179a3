package dev.llamajava;

/**
 * {@link Engine#generate} found every slot busy and its wait queue full ({@link EngineParams#queueCapacity()}), and
 * no room came free within {@link EngineParams#queueTimeout()}. Nothing was started; try again later (a server
 * answers 429).
 */
public class EngineBusyException extends LlamaException {
    private static final long serialVersionUID = 1L;

    /** @param message how many slots and queue places there are */
    public EngineBusyException(String message) {
        super(message);
    }
}
