package dev.llamajava.hub;

/** Test access to the package-private JSON parser. */
public final class JsonAccess {
    private JsonAccess() { }

    public static Object parse(String json) {
        return Json.parse(json);
    }
}
