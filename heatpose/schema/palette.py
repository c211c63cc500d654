"""Named (R, G, B) colours used by the built-in schemas (MMPose's visualisation colours)."""

ORANGE = (255, 128, 0)       # right side of the body (MMPose convention)
GREEN = (0, 255, 0)          # left side of the body
BLUE = (51, 153, 255)        # centre line: head, torso
WHITE = (255, 255, 255)
PINK = (255, 153, 255)       # hands: forefinger
SKY = (102, 178, 255)        # hands: middle finger
RED = (255, 51, 51)          # hands: ring finger

DEFAULT_KEYPOINT = (255, 128, 0)   # what MMPose uses for a keypoint without a colour
DEFAULT_LINK = (96, 96, 255)       # ... and for a link without one
