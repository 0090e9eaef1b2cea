"""The stages an upload meets on its way to the network, in order.

1. decode (:mod:`digitlib.imageio`): bytes, a path or an array to pixels, safely, with the
   original size and the scale of any reduced decoding.
2. page (:mod:`digitlib.stages.page`): the picture as ink: polarity, paper flattening,
   binarisation, paper lines erased (:mod:`digitlib.stages.paper_lines`), specks and edges
   dropped. ``read_page(decoded, look)`` -> :class:`~digitlib.stages.page.InkImage`.
3. find digits (:mod:`digitlib.stages.find`): the components that make up the digit.
   ``find_digit(ink)`` -> :class:`~digitlib.stages.find.Region`. (A number's digits:
   :mod:`digitlib.segment`.)
4. normalise (:mod:`digitlib.stages.normalise`): MNIST's own preparation: the 20x20 box and the
   centre of mass in 28x28. ``mnist_normalise(ink, region)`` -> the network input.
5. 28x28 repair (:mod:`digitlib.stages.repair`, lines: :mod:`digitlib.stages.repair_lines`): an
   input that is 28x28 already is not resampled but made MNIST-like in place.
   ``restore_mnist_style(pixels)`` -> the network input.

:mod:`digitlib.preprocess` runs them for one upload (the full look, or a first look at another
work size: :class:`digitlib.tuning.Look`); :mod:`digitlib.cascade` decides what the networks'
readings of the result mean. Every tuned number is in :mod:`digitlib.tuning`.
"""
