#include "host/outputs/input_codes.h"

#include <X11/keysym.h>
#include <linux/input-event-codes.h>

#include <array>
#include <utility>

namespace xen3d::host {
namespace {

// The US (pc105) layout: each key with the keysyms of its two levels.
constexpr std::pair<uint32_t, uint16_t> kKeysymKeys[] = {
    {XK_Escape, KEY_ESC}, {XK_Return, KEY_ENTER}, {XK_KP_Enter, KEY_KPENTER}, {XK_BackSpace, KEY_BACKSPACE},
    {XK_Tab, KEY_TAB}, {XK_ISO_Left_Tab, KEY_TAB}, {XK_space, KEY_SPACE},
    {XK_Shift_L, KEY_LEFTSHIFT}, {XK_Shift_R, KEY_RIGHTSHIFT}, {XK_Control_L, KEY_LEFTCTRL},
    {XK_Control_R, KEY_RIGHTCTRL}, {XK_Alt_L, KEY_LEFTALT}, {XK_Alt_R, KEY_RIGHTALT},
    {XK_ISO_Level3_Shift, KEY_RIGHTALT}, {XK_Meta_L, KEY_LEFTMETA}, {XK_Meta_R, KEY_RIGHTMETA},
    {XK_Super_L, KEY_LEFTMETA}, {XK_Super_R, KEY_RIGHTMETA}, {XK_Menu, KEY_COMPOSE},
    {XK_Caps_Lock, KEY_CAPSLOCK}, {XK_Num_Lock, KEY_NUMLOCK}, {XK_Scroll_Lock, KEY_SCROLLLOCK},
    {XK_Print, KEY_SYSRQ}, {XK_Pause, KEY_PAUSE},
    {XK_Left, KEY_LEFT}, {XK_Right, KEY_RIGHT}, {XK_Up, KEY_UP}, {XK_Down, KEY_DOWN},
    {XK_Home, KEY_HOME}, {XK_End, KEY_END}, {XK_Page_Up, KEY_PAGEUP}, {XK_Page_Down, KEY_PAGEDOWN},
    {XK_Insert, KEY_INSERT}, {XK_Delete, KEY_DELETE},
    {XK_F1, KEY_F1}, {XK_F2, KEY_F2}, {XK_F3, KEY_F3}, {XK_F4, KEY_F4}, {XK_F5, KEY_F5}, {XK_F6, KEY_F6},
    {XK_F7, KEY_F7}, {XK_F8, KEY_F8}, {XK_F9, KEY_F9}, {XK_F10, KEY_F10}, {XK_F11, KEY_F11}, {XK_F12, KEY_F12},
    {XK_1, KEY_1}, {XK_exclam, KEY_1}, {XK_2, KEY_2}, {XK_at, KEY_2}, {XK_3, KEY_3}, {XK_numbersign, KEY_3},
    {XK_4, KEY_4}, {XK_dollar, KEY_4}, {XK_5, KEY_5}, {XK_percent, KEY_5}, {XK_6, KEY_6},
    {XK_asciicircum, KEY_6}, {XK_7, KEY_7}, {XK_ampersand, KEY_7}, {XK_8, KEY_8}, {XK_asterisk, KEY_8},
    {XK_9, KEY_9}, {XK_parenleft, KEY_9}, {XK_0, KEY_0}, {XK_parenright, KEY_0},
    {XK_minus, KEY_MINUS}, {XK_underscore, KEY_MINUS}, {XK_equal, KEY_EQUAL}, {XK_plus, KEY_EQUAL},
    {XK_bracketleft, KEY_LEFTBRACE}, {XK_braceleft, KEY_LEFTBRACE}, {XK_bracketright, KEY_RIGHTBRACE},
    {XK_braceright, KEY_RIGHTBRACE}, {XK_semicolon, KEY_SEMICOLON}, {XK_colon, KEY_SEMICOLON},
    {XK_apostrophe, KEY_APOSTROPHE}, {XK_quotedbl, KEY_APOSTROPHE}, {XK_grave, KEY_GRAVE},
    {XK_asciitilde, KEY_GRAVE}, {XK_backslash, KEY_BACKSLASH}, {XK_bar, KEY_BACKSLASH},
    {XK_comma, KEY_COMMA}, {XK_less, KEY_COMMA}, {XK_period, KEY_DOT}, {XK_greater, KEY_DOT},
    {XK_slash, KEY_SLASH}, {XK_question, KEY_SLASH},
    {XK_KP_0, KEY_KP0}, {XK_KP_Insert, KEY_KP0}, {XK_KP_1, KEY_KP1}, {XK_KP_End, KEY_KP1},
    {XK_KP_2, KEY_KP2}, {XK_KP_Down, KEY_KP2}, {XK_KP_3, KEY_KP3}, {XK_KP_Page_Down, KEY_KP3},
    {XK_KP_4, KEY_KP4}, {XK_KP_Left, KEY_KP4}, {XK_KP_5, KEY_KP5}, {XK_KP_Begin, KEY_KP5},
    {XK_KP_6, KEY_KP6}, {XK_KP_Right, KEY_KP6}, {XK_KP_7, KEY_KP7}, {XK_KP_Home, KEY_KP7},
    {XK_KP_8, KEY_KP8}, {XK_KP_Up, KEY_KP8}, {XK_KP_9, KEY_KP9}, {XK_KP_Page_Up, KEY_KP9},
    {XK_KP_Decimal, KEY_KPDOT}, {XK_KP_Delete, KEY_KPDOT}, {XK_KP_Add, KEY_KPPLUS},
    {XK_KP_Subtract, KEY_KPMINUS}, {XK_KP_Multiply, KEY_KPASTERISK}, {XK_KP_Divide, KEY_KPSLASH},
};

// Letters in alphabetical order: their key codes follow the QWERTY rows, not the alphabet.
constexpr std::array<uint16_t, 26> kLetterKeys = {
    KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I, KEY_J, KEY_K, KEY_L, KEY_M,
    KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z,
};

}  // namespace

uint16_t linux_key_from_keysym(uint32_t keysym) {
  if (keysym >= XK_a && keysym <= XK_z) return kLetterKeys[keysym - XK_a];
  if (keysym >= XK_A && keysym <= XK_Z) return kLetterKeys[keysym - XK_A];
  for (const auto& [sym, code] : kKeysymKeys)
    if (sym == keysym) return code;
  return 0;
}

PointerButton pointer_button(unsigned x_button) {
  PointerButton b;
  switch (x_button) {
    case 1: b.code = BTN_LEFT; break;
    case 2: b.code = BTN_MIDDLE; break;
    case 3: b.code = BTN_RIGHT; break;
    case 4: b.wheel_vertical = 1; break;
    case 5: b.wheel_vertical = -1; break;
    case 6: b.wheel_horizontal = -1; break;
    case 7: b.wheel_horizontal = 1; break;
    case 8: b.code = BTN_SIDE; break;
    case 9: b.code = BTN_EXTRA; break;
    default: break;
  }
  return b;
}

}  // namespace xen3d::host
