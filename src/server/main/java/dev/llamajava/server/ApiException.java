package dev.llamajava.server;

/**
 * A request the server refuses: the HTTP status and OpenAI's error fields ({@code type}, {@code code},
 * {@code param}) it is answered with.
 */
final class ApiException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    final int status;
    final String type;
    final String code;
    final String param;

    ApiException(int status, String type, String code, String param, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.code = code;
        this.param = param;
    }

    static ApiException invalid(String param, String message) {
        return new ApiException(400, "invalid_request_error", null, param, message);
    }
}
